"""The decision engine: which ads a viewer at a position sees, charged exactly once each.

position -> campaigns whose target covers it (in-process STRtree) -> live now (status, window,
hours in the campaign's time zone), not the viewer's own -> rank by bid x relevance (category
match with what is shown, distance decay) -> for each winner in rank order, one Lua call checks
the viewer's cap, today's paced share and the lease left, and charges a second-price amount, or
logs a holdout; a winner that fails (capped, spent) gives its slot to the next in rank.
"""

import asyncio
import itertools
import logging
import math
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from geo.ads import budget, keys, signing
from geo.ads.index import CampaignIndex, LiveCampaign
from geo.core.config import Settings
from geo.core.db import Database
from geo.core.ids import EPOCH_MS
from geo.core.metrics import AD_DECISIONS
from geo.core.redis import RedisClient

log = logging.getLogger("geo.ads.decision")
MAX_TRIES_BEYOND_SLOTS = 6  # bounds the Redis calls of one decision when winners keep failing
SPENT_BACKOFF_S = 5.0  # a campaign out of budget (or pace) is not retried for this long
_PROCESS_TAG = secrets.randbits(10)
_sequence = itertools.count()


def new_impression_id() -> int:
    """Snowflake layout: ms since the epoch, a random per-process tag, a per-process sequence.

    Unique unless two processes drew the same tag and mint the same sequence number in the same
    millisecond; the ledger insert is idempotent by id, so a clash could only merge two rows.
    """
    ms = int(time.time() * 1000) - EPOCH_MS
    return (ms << 22) | (_PROCESS_TAG << 12) | (next(_sequence) & 0xFFF)


@dataclass
class Ranked:
    campaign: LiveCampaign
    distance_m: float
    relevance: float

    @property
    def score(self) -> float:
        return self.campaign.bid_cpm * self.relevance


@dataclass
class AdsEngine:
    """Per-process state of the ads: the index, the scripts, and short-lived exhaustion marks."""

    db: Database
    redis: RedisClient
    settings: Settings
    index: CampaignIndex
    scripts: budget.Scripts
    spent_until: dict[int, float] = field(default_factory=dict)
    _spent_version: int = 0
    _lease_locks: dict[int, asyncio.Lock] = field(default_factory=dict)

    @classmethod
    def create(cls, db: Database, redis: RedisClient, settings: Settings) -> "AdsEngine":
        return cls(db, redis, settings, CampaignIndex(settings.ads_index_refresh_s),
                   budget.register_scripts(redis))

    async def decide(self, *, viewer_id: int, lat: float, lon: float,
                     context_categories: frozenset[str] = frozenset(),
                     slots: int | None = None) -> list[dict]:
        """Up to `slots` ads for this viewer here, each charged (or held out) atomically."""
        await self.index.refresh(self.db)
        if self.index.version != self._spent_version:  # budgets or status may have changed
            self.spent_until.clear()
            self._spent_version = self.index.version
        now = time.time()
        ranked = self.rank(viewer_id, lat, lon, context_categories, now)
        if not ranked:
            AD_DECISIONS.labels("no-candidate").inc()
            return []
        ads, outcomes = await self._fill(ranked, viewer_id, lat, lon, now,
                                         slots or self.settings.ads_slots)
        AD_DECISIONS.labels(_outcome(ads, outcomes)).inc()
        return ads

    def rank(self, viewer_id: int, lat: float, lon: float, categories: frozenset[str],
             now: float) -> list[Ranked]:
        local_hours: dict[str, int] = {}
        ranked = []
        boost, decay = self.settings.ads_category_boost, self.settings.ads_distance_decay_m
        for campaign, distance in self.index.covering(lat, lon):
            if campaign.owner_id == viewer_id or not campaign.starts_at <= now < campaign.ends_at:
                continue
            if self.spent_until.get(campaign.id, 0.0) > now:
                continue
            if campaign.hours is not None:
                key = campaign.tz.key
                if key not in local_hours:
                    local_hours[key] = datetime.fromtimestamp(now, campaign.tz).hour
                if local_hours[key] not in campaign.hours:
                    continue
            match = campaign.categories is not None and bool(campaign.categories & categories)
            relevance = (boost if match else 1.0) / (1.0 + distance / decay)
            ranked.append(Ranked(campaign, distance, relevance))
        ranked.sort(key=lambda r: (-r.score, r.campaign.id))
        return ranked

    async def _fill(self, ranked: list[Ranked], viewer_id: int, lat: float, lon: float,
                    now: float, slots: int) -> tuple[list[dict], Counter[str]]:
        ads: list[dict] = []
        outcomes: Counter[str] = Counter()
        for position, candidate in enumerate(ranked[:slots + MAX_TRIES_BEYOND_SLOTS]):
            if len(ads) >= slots:
                break
            runner_up = ranked[position + 1].score if position + 1 < len(ranked) else 0.0
            price = self.price_milli(candidate, runner_up)
            impression_id = new_impression_id()
            outcome = await self.charge(candidate, viewer_id, lat, lon, now, price, impression_id)
            outcomes[outcome] += 1
            if outcome == "ok":
                ads.append(self._render(candidate, viewer_id, impression_id))
        return ads, outcomes

    def price_milli(self, candidate: Ranked, runner_up_score: float) -> int:
        """Second-price-like: what would still beat the runner-up, at least the reserve, at most
        the bid (CPM yen == milli-yen per impression)."""
        needed = math.floor(runner_up_score / candidate.relevance) + 1 if runner_up_score else 0
        return min(candidate.campaign.bid_cpm, max(self.settings.ads_reserve_cpm, needed))

    async def charge(self, candidate: Ranked, viewer_id: int, lat: float, lon: float, now: float,
                     price: int, impression_id: int) -> str:
        campaign = candidate.campaign
        local_now = datetime.fromtimestamp(now, campaign.tz)
        day = local_now.date().isoformat()
        paced = budget.paced_limit_milli(campaign.budget_daily, campaign.hours, local_now,
                                         self.settings.ads_pacing_margin)
        held_out = signing.holdout_draw(self.settings.secret_key, campaign.id,
                                        viewer_id) < campaign.holdout_share
        keys_ = [keys.budget(campaign.id), keys.frequency(campaign.id, viewer_id),
                 keys.events_for(campaign.id)]
        args = [day, price, paced, campaign.cap_count, campaign.cap_ms, int(now * 1000),
                impression_id, int(held_out), campaign.id, viewer_id, repr(lat), repr(lon),
                round(candidate.distance_m, 1), keys.STREAM_CAP]
        result = (await self.scripts.charge(keys=keys_, args=args)).decode()
        if result in ("day", "lease"):
            result = await self._lease_and_retry(campaign, day, paced, keys_, args)
        if result in ("paced", "budget"):
            self.spent_until[campaign.id] = now + SPENT_BACKOFF_S
        return result

    async def _lease_and_retry(self, campaign: LiveCampaign, day: str, paced: int,
                               keys_: list[str], args: list) -> str:
        """Lease budget from PostgreSQL (one coroutine per campaign at a time), then charge."""
        lock = self._lease_locks.setdefault(campaign.id, asyncio.Lock())
        async with lock:
            # Another request may have leased while this one waited.
            result = (await self.scripts.charge(keys=keys_, args=args)).decode()
            if result not in ("day", "lease"):
                return result
            old_day, unspent = "", 0
            if result == "day":
                old, left = await self.scripts.rollover(keys=[keys_[0]], args=[day])
                old_day, unspent = old.decode(), int(left)
            chunk = campaign.bid_cpm * self.settings.ads_lease_chunk_impressions
            # Its own transaction, committed before Redis may spend the lease: a lease that
            # Redis spent must never be rolled back with the request that happened to take it.
            async with self.db.sessionmaker() as session, session.begin():
                granted = await budget.take_lease(
                    session, campaign_id=campaign.id, day=datetime.fromisoformat(day).date(),
                    chunk_milli=chunk, paced_milli=paced, old_day=old_day, unspent_milli=unspent)
            if granted <= 0:
                return "budget"
            await self.scripts.credit(keys=[keys_[0]], args=[day, granted])
            return (await self.scripts.charge(keys=keys_, args=args)).decode()

    def _render(self, candidate: Ranked, viewer_id: int, impression_id: int) -> dict:
        campaign = candidate.campaign
        token = signing.sign(self.settings.secret_key, impression_id=impression_id,
                             campaign_id=campaign.id, viewer_id=viewer_id)
        return {"id": token, "campaign_id": str(campaign.id), "headline": campaign.headline,
                "body": campaign.body, "place": campaign.place,
                "distance_m": round(candidate.distance_m, 1)}


def _outcome(ads: list[dict], outcomes: Counter[str]) -> str:
    if ads:
        return "served"
    if outcomes["holdout"]:
        return "holdout"
    if outcomes["capped"] >= outcomes["budget"] + outcomes["paced"]:
        return "capped"
    return "budget"
