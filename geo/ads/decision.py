"""The decision engine: which ads a viewer at a position sees, charged exactly once each.

position -> campaigns whose target covers it (in-process STRtree) -> live now (status, window,
hours in the campaign's time zone), not the viewer's own -> rank by bid x relevance (category
match with what is shown, distance decay) -> the top winners are charged in one pipelined round
trip, one Lua call each: it checks the viewer's cap, today's paced share and the lease left, and
charges a second-price amount or logs a holdout. A winner that fails (capped, spent) gives its
slot to the next in rank.
"""

import asyncio
import itertools
import math
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from redis.exceptions import NoScriptError

from geo.ads import budget, keys, signing
from geo.ads.caps import rebuild as rebuild_caps
from geo.ads.index import CampaignIndex, LiveCampaign
from geo.ads.leasing import Leaser
from geo.ads.traffic import TrafficFilter
from geo.core.config import Settings
from geo.core.db import Database
from geo.core.ids import EPOCH_MS
from geo.core.metrics import AD_DECISIONS
from geo.core.redis import RedisClient

MAX_TRIES_BEYOND_SLOTS = 6  # bounds the Redis calls of one decision when winners keep failing
SPENT_BACKOFF_S = 5.0  # a campaign out of budget (or pace) is not retried for this long
SERVED = ("ok", "low")
_PROCESS_TAG = secrets.randbits(10)
_sequence = itertools.count()
# An ad as served: AdRead's JSON-ready values, made here and dumped by orjson with the page that
# carries it. Hot path (/v1/places/nearby, bench/ads_decision.py): no model per ad served.
ServedAd = dict[str, Any]


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
    price: int = 0  # milli-yen, set once the runner-up is known

    @property
    def score(self) -> float:
        return self.campaign.bid_cpm * self.relevance


class CapCache:
    """Viewers known to be at a campaign's cap, until their oldest exposure leaves the window.

    Only ever skips work: the Lua script still checks every charge, so a stale or lost entry can
    cost a round trip but never serve past a cap. Bounded: cleared when full.
    """

    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._until: dict[tuple[int, int], float] = {}

    def remember(self, viewer_id: int, campaign_id: int, until: float) -> None:
        if len(self._until) >= self.max_entries:
            self._until.clear()
        self._until[(viewer_id, campaign_id)] = until

    def clear(self) -> None:
        self._until.clear()

    def capped(self, viewer_id: int, campaign_id: int, now: float) -> bool:
        until = self._until.get((viewer_id, campaign_id))
        if until is None:
            return False
        if until <= now:
            del self._until[(viewer_id, campaign_id)]
            return False
        return True


@dataclass
class Charge:
    """One Lua call's inputs for one candidate."""

    candidate: Ranked
    impression_id: int
    day: str
    paced: int
    keys: list[str]
    args: list


@dataclass
class AdsEngine:
    """Per-process state of the ads: the index, the scripts, and short-lived exhaustion marks."""

    db: Database
    redis: RedisClient
    settings: Settings
    index: CampaignIndex
    scripts: budget.Scripts
    leaser: Leaser
    traffic: TrafficFilter
    spent_until: dict[int, float] = field(default_factory=dict)
    caps: "CapCache" = field(default_factory=lambda: CapCache())
    _spent_version: int = 0

    @classmethod
    def create(cls, db: Database, redis: RedisClient, settings: Settings) -> "AdsEngine":
        scripts = budget.register_scripts(redis)
        return cls(
            db,
            redis,
            settings,
            CampaignIndex(settings.ads_index_refresh_s),
            scripts,
            Leaser(db, scripts, settings.ads_lease_chunk_impressions),
            TrafficFilter(redis, settings),
        )

    async def settle(self) -> None:
        """Wait for background leases and index refreshes (tests, benchmarks, shutdown)."""
        while pending := self.leaser.pending() | self.index.pending():
            await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        """Cancel background leases and refreshes (a cancelled lease is lost: conservative)."""
        for task in self.leaser.pending() | self.index.pending():
            task.cancel()
        await asyncio.gather(*self.leaser.pending(), *self.index.pending(), return_exceptions=True)

    async def prime(self, *, concurrency: int = 4) -> int:
        """Lease a first chunk for each live campaign that has none for its current day (at the
        start of a day, after a Redis loss), so the first requests need not wait on PostgreSQL.
        Returns how many campaigns were leased."""
        await self.index.refresh(self.db)
        gate = asyncio.Semaphore(concurrency)
        now = time.time()

        async def prime_one(campaign: LiveCampaign) -> bool:
            local_now = datetime.fromtimestamp(now, campaign.tz)
            day = local_now.date().isoformat()
            paced = budget.paced_limit_milli(
                campaign.budget_daily, campaign.hours, local_now, self.settings.ads_pacing_margin
            )
            async with gate, self.leaser.lock(campaign.id):
                held_day, lease, caps = await self.redis.hmget(  # type: ignore[misc]
                    keys.budget(campaign.id), ["day", "lease", "caps"]
                )
                fresh = held_day == day.encode()
                leased = False
                if not fresh or int(lease or 0) < self.leaser.low_water_milli(campaign):
                    granted = await self.leaser.lease(
                        campaign, day=day, paced_milli=paced, roll_over=not fresh
                    )
                    leased = granted > 0
                    caps = await self.redis.hget(keys.budget(campaign.id), "caps")
                # A rollover from nothing (a Redis loss) marked the caps lost: put them back
                # now too, or the first charge would wait on the ledger for them.
                if caps == b"lost":
                    await rebuild_caps(self.db, self.redis, campaign, now=now)
                return leased

        live = [c for c in self.index.campaigns.values() if c.starts_at <= now < c.ends_at]
        return sum(await asyncio.gather(*(prime_one(c) for c in live)))

    async def decide(
        self,
        *,
        viewer_id: int,
        lat: float,
        lon: float,
        context_categories: frozenset[str] = frozenset(),
        slots: int | None = None,
    ) -> list[ServedAd]:
        """Up to `slots` ads for this viewer here, each charged (or held out) atomically."""
        await self.index.maybe_refresh(self.db)
        if self.index.version != self._spent_version:  # budgets or status may have changed
            self.spent_until.clear()
            self.caps.clear()
            self._spent_version = self.index.version
        now = time.time()
        skipped: Counter[str] = Counter()
        ranked = self.rank(viewer_id, lat, lon, context_categories, now, skipped)
        if not ranked:
            AD_DECISIONS.labels(_outcome([], skipped) if skipped else "no-candidate").inc()
            return []
        # Checked only where an ad could be served: invalid traffic is neither charged nor counted.
        if await self.traffic.invalid_reason(viewer_id, lat, lon, now) is not None:
            AD_DECISIONS.labels("invalid").inc()
            return []
        ads, outcomes = await self._fill(
            ranked, viewer_id, lat, lon, now, slots or self.settings.ads_slots
        )
        AD_DECISIONS.labels(_outcome(ads, outcomes)).inc()
        return ads

    def rank(
        self,
        viewer_id: int,
        lat: float,
        lon: float,
        categories: frozenset[str],
        now: float,
        skipped: Counter[str] | None = None,
    ) -> list[Ranked]:
        """Live candidates covering the point, best first, priced; `skipped` counts those left
        out because this process knows them spent or the viewer capped."""
        skipped = Counter() if skipped is None else skipped
        index = self.index
        positions, distances = index.covering_arrays(lat, lon)
        # Vectorised over every covering campaign: who may see it now, and its score. Only the
        # best few are then walked in Python (process-local marks, hours in their zones).
        live = (
            (index.owners[positions] != viewer_id)
            & (index.starts[positions] <= now)
            & (now < index.ends[positions])
        )
        positions, distances = positions[live], distances[live]
        if len(positions) == 0:
            return []
        boost, decay = self.settings.ads_category_boost, self.settings.ads_distance_decay_m
        match = np.zeros(len(positions), dtype=bool)
        if categories:
            for k in np.flatnonzero(index.has_categories[positions]).tolist():
                match[k] = bool(
                    (index.campaign_at(positions[k]).categories or frozenset()) & categories
                )
        relevance = np.where(match, boost, 1.0) / (1.0 + distances / decay)
        scores = index.bids[positions] * relevance
        wanted = self.settings.ads_slots + MAX_TRIES_BEYOND_SLOTS + 1
        local_hours: dict[str, int] = {}
        ranked = []
        # Best score first, ties to the lower campaign id (deterministic).
        for k in np.lexsort((index.ids[positions], -scores)).tolist():
            campaign = index.campaign_at(positions[k])
            if self.spent_until.get(campaign.id, 0.0) > now:
                skipped["budget"] += 1
                continue
            if self.caps.capped(viewer_id, campaign.id, now):
                skipped["capped"] += 1
                continue
            if campaign.hours is not None:
                key = campaign.tz.key
                if key not in local_hours:
                    local_hours[key] = datetime.fromtimestamp(now, campaign.tz).hour
                if local_hours[key] not in campaign.hours:
                    continue
            ranked.append(Ranked(campaign, float(distances[k]), float(relevance[k])))
            if len(ranked) == wanted:
                break
        for position, candidate in enumerate(ranked):
            runner_up = ranked[position + 1].score if position + 1 < len(ranked) else 0.0
            candidate.price = self.price_milli(candidate, runner_up)
        return ranked

    def price_milli(self, candidate: Ranked, runner_up_score: float) -> int:
        """Second-price-like: what would still beat the runner-up, at least the reserve, at most
        the bid (CPM yen == milli-yen per impression)."""
        needed = math.floor(runner_up_score / candidate.relevance) + 1 if runner_up_score else 0
        return min(candidate.campaign.bid_cpm, max(self.settings.ads_reserve_cpm, needed))

    async def _fill(
        self, ranked: list[Ranked], viewer_id: int, lat: float, lon: float, now: float, slots: int
    ) -> tuple[list[ServedAd], Counter[str]]:
        ads: list[ServedAd] = []
        outcomes: Counter[str] = Counter()
        tries = ranked[: slots + MAX_TRIES_BEYOND_SLOTS]
        start = 0
        while len(ads) < slots and start < len(tries):
            batch = [
                self._prepare(c, viewer_id, lat, lon, now)
                for c in tries[start : start + slots - len(ads)]
            ]
            start += len(batch)
            for charge, result in zip(batch, await self._run(batch), strict=True):
                if result in ("day", "lease"):
                    result = await self._lease_and_retry(charge, result)
                if result == "caps":
                    result = await self._rebuild_caps_and_retry(charge, now)
                if result.startswith("capped:"):
                    self.caps.remember(
                        viewer_id, charge.candidate.campaign.id, now + int(result[7:]) / 1000
                    )
                    result = "capped"
                outcomes[result] += 1
                if result in SERVED:
                    ads.append(self._render(charge.candidate, viewer_id, charge.impression_id))
                if result == "low":
                    self.leaser.top_up_soon(
                        charge.candidate.campaign, day=charge.day, paced_milli=charge.paced
                    )
                elif result in ("paced", "budget"):
                    self.spent_until[charge.candidate.campaign.id] = now + SPENT_BACKOFF_S
        return ads, outcomes

    def _prepare(
        self, candidate: Ranked, viewer_id: int, lat: float, lon: float, now: float
    ) -> Charge:
        campaign = candidate.campaign
        local_now = datetime.fromtimestamp(now, campaign.tz)
        day = local_now.date().isoformat()
        paced = budget.paced_limit_milli(
            campaign.budget_daily, campaign.hours, local_now, self.settings.ads_pacing_margin
        )
        held_out = (
            signing.holdout_draw(self.settings.secret_key, campaign.id, viewer_id)
            < campaign.holdout_share
        )
        impression_id = new_impression_id()
        keys_ = [
            keys.budget(campaign.id),
            keys.frequency(campaign.id, viewer_id),
            keys.events_for(campaign.id),
        ]
        args = [
            day,
            candidate.price,
            paced,
            campaign.cap_count,
            campaign.cap_ms,
            int(now * 1000),
            impression_id,
            int(held_out),
            campaign.id,
            viewer_id,
            repr(lat),
            repr(lon),
            round(candidate.distance_m, 1),
            keys.STREAM_CAP,
            self.leaser.low_water_milli(campaign),
        ]
        return Charge(candidate, impression_id, day, paced, keys_, args)

    async def _run(self, batch: list[Charge]) -> list[str]:
        """The charge script for each candidate, in one round trip (EVALSHA; loaded if missing)."""
        sha = self.scripts.charge.sha
        for attempt in (1, 2):
            async with self.redis.pipeline(transaction=False) as pipe:
                for charge in batch:
                    pipe.evalsha(sha, len(charge.keys), *charge.keys, *charge.args)
                results = await pipe.execute(raise_on_error=False)
            if attempt == 1 and any(isinstance(r, NoScriptError) for r in results):
                await self.redis.script_load(budget.CHARGE)  # after a Redis restart
                continue
            for result in results:
                if isinstance(result, Exception):
                    raise result
            return [r.decode() for r in results]
        raise AssertionError("unreachable")

    async def _lease_and_retry(self, charge: Charge, result: str) -> str:
        """Lease budget from PostgreSQL (one coroutine per campaign at a time), then charge."""
        campaign = charge.candidate.campaign
        async with self.leaser.lock(campaign.id):
            result = (await self._run([charge]))[0]  # another request may have just leased
            if result not in ("day", "lease"):
                return result
            granted = await self.leaser.lease(
                campaign, day=charge.day, paced_milli=charge.paced, roll_over=result == "day"
            )
            if granted <= 0:
                return "budget"
            return (await self._run([charge]))[0]

    async def _rebuild_caps_and_retry(self, charge: Charge, now: float) -> str:
        """Redis lost this campaign's state: its frequency caps come back from the ledger before
        anything more is charged (one coroutine per campaign here; other processes may rebuild
        too, idempotently)."""
        campaign = charge.candidate.campaign
        async with self.leaser.lock(campaign.id):
            result = (await self._run([charge]))[0]
            if result == "caps":
                await rebuild_caps(self.db, self.redis, campaign, now=now)
                result = (await self._run([charge]))[0]
        # Meanwhile others may have spent the lease the rollover granted: lease like any charge.
        if result in ("day", "lease"):
            result = await self._lease_and_retry(charge, result)
        return result

    def _render(self, candidate: Ranked, viewer_id: int, impression_id: int) -> ServedAd:
        campaign = candidate.campaign
        token = signing.sign(
            self.settings.secret_key,
            impression_id=impression_id,
            campaign_id=campaign.id,
            viewer_id=viewer_id,
        )
        return {
            "id": token,
            "campaign_id": str(campaign.id),
            "headline": campaign.headline,
            "body": campaign.body,
            "place": campaign.place,
            "distance_m": round(candidate.distance_m, 1),
        }


def _outcome(ads: list[ServedAd], outcomes: Counter[str]) -> str:
    if ads:
        return "served"
    if outcomes["holdout"]:
        return "holdout"
    if outcomes["capped"] >= outcomes["budget"] + outcomes["paced"]:
        return "capped"
    return "budget"
