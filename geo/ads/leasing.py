"""Moving budget from PostgreSQL leases into Redis, on demand and ahead of demand.

A request that finds no lease waits for one (one coroutine per campaign leases at a time; the
others re-check after it). A charge that leaves the lease below half a chunk starts a top-up in
the background, so in steady state no request waits on PostgreSQL.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import date

from geo.ads import budget, keys
from geo.ads.index import LiveCampaign
from geo.core.db import Database

log = logging.getLogger("geo.ads.leasing")


@dataclass
class Leaser:
    db: Database
    scripts: budget.Scripts
    chunk_impressions: int
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    _background: set[asyncio.Task] = field(default_factory=set)

    def chunk_milli(self, campaign: LiveCampaign) -> int:
        return campaign.bid_cpm * self.chunk_impressions

    def low_water_milli(self, campaign: LiveCampaign) -> int:
        return self.chunk_milli(campaign) // 2

    def pending(self) -> set[asyncio.Task]:
        return set(self._background)

    def lock(self, campaign_id: int) -> asyncio.Lock:
        return self._locks.setdefault(campaign_id, asyncio.Lock())

    async def lease(
        self, campaign: LiveCampaign, *, day: str, paced_milli: int, roll_over: bool
    ) -> int:
        """Lease up to a chunk for `day` into Redis (rolling Redis over to `day` first if asked).

        The caller holds `lock(campaign.id)`. Returns the milli-yen credited (0: budget used up).
        """
        old_day, unspent = "", 0
        budget_key = keys.budget(campaign.id)
        if roll_over:
            old, left = await self.scripts.rollover(keys=[budget_key], args=[day])
            old_day, unspent = old.decode(), int(left)
        # Its own transaction, committed before Redis may spend the lease: a lease that Redis
        # spent must never be rolled back with the request that happened to take it.
        async with self.db.sessionmaker() as session, session.begin():
            granted = await budget.take_lease(
                session,
                campaign_id=campaign.id,
                day=date.fromisoformat(day),
                chunk_milli=self.chunk_milli(campaign),
                paced_milli=paced_milli,
                old_day=old_day,
                unspent_milli=unspent,
            )
        if granted <= 0:
            return 0
        final = int(granted < self.chunk_milli(campaign))
        credited = await self.scripts.credit(keys=[budget_key], args=[day, granted, final])
        return granted if credited else 0

    def top_up_soon(self, campaign: LiveCampaign, *, day: str, paced_milli: int) -> None:
        """Lease the next chunk in the background, unless a lease of this campaign is running."""
        if self.lock(campaign.id).locked():
            return
        task = asyncio.create_task(self._top_up(campaign, day, paced_milli))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _top_up(self, campaign: LiveCampaign, day: str, paced_milli: int) -> None:
        async with self.lock(campaign.id):
            try:
                await self.lease(campaign, day=day, paced_milli=paced_milli, roll_over=False)
            except Exception:  # a missed top-up only means a later request leases itself
                log.exception("background lease of campaign %s failed", campaign.id)
