"""The in-process spatial index of live campaign targets (an STRtree), refreshed on change.

Why in-process and not a PostGIS query per decision: the decision sits on the hot path of
`/v1/places/nearby`, whose whole budget for ads is about 3 ms p99. A GiST lookup is a network
round trip plus planning (~0.5-1 ms on this box, more under load) and ties up a pooled connection;
an STRtree point query over 10,000 targets is tens of microseconds and needs nothing shared. The
targets are few (campaigns, not viewers) and change rarely, so each process holds them all.

Freshness: at most every `ads_index_refresh_s` a process compares a cheap fingerprint of the live
campaigns (count and sum of revisions; every edit takes a new revision from a sequence) and, when
it moved, reloads exactly the rows whose revision differs. Comparing per-row revisions (not
"revision > last seen") is what keeps a late-committing edit from being missed. Within that
interval a paused campaign may still be picked; it is the time window, status and hours filters
at decision time (against the clock, not the index) that keep ended, not-yet-started and
out-of-hours campaigns from ever serving.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from shapely import STRtree

from geo.ads.repository import ServingRepository, ServingRow
from geo.core.db import Database
from geo.core.geodesy import haversine_m_many
from geo.places import service as places

log = logging.getLogger("geo.ads.index")
M_PER_DEG_LAT = 111_320.0


@dataclass(slots=True)
class LiveCampaign:
    id: int
    owner_id: int
    revision: int
    place: dict[str, Any]  # the place's JSON-ready values (PlaceRead), embedded in each ad
    lat: float
    lon: float
    radius_m: int | None
    area: shapely.Polygon | None
    bid_cpm: int
    budget_daily: int
    starts_at: float
    ends_at: float
    hours: frozenset[int] | None
    tz: ZoneInfo
    categories: frozenset[str] | None
    cap_count: int
    cap_ms: int
    holdout_share: float
    headline: str
    body: str

    def envelope(self) -> shapely.Geometry:
        if self.area is not None:
            return self.area
        assert self.radius_m is not None
        dlat = self.radius_m / M_PER_DEG_LAT
        dlon = dlat / max(0.01, float(np.cos(np.radians(self.lat))))
        return shapely.box(self.lon - dlon, self.lat - dlat, self.lon + dlon, self.lat + dlat)


class CampaignIndex:
    """Live campaigns by target, for "which campaigns cover this point" in microseconds."""

    def __init__(self, refresh_s: float) -> None:
        self.refresh_s = refresh_s
        self.campaigns: dict[int, LiveCampaign] = {}
        self.version = 0  # bumped on every change; callers drop caches keyed to it
        self._order: list[LiveCampaign] = []
        self._tree: STRtree | None = None
        self._lats = self._lons = self._radii = np.zeros(0)
        # Per-campaign columns in `_order`'s order, so ranking is array arithmetic (decision.py).
        self.ids = self.owners = np.zeros(0, dtype=np.int64)
        self.starts = self.ends = self.bids = np.zeros(0)
        self.has_categories = np.zeros(0, dtype=bool)
        self._fingerprint: tuple[int, int] | None = None
        self._checked = float("-inf")
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task] = set()

    async def maybe_refresh(self, db: Database) -> None:
        """Before a decision: the first load (and every check when refresh_s is 0) is awaited;
        later checks run in the background so no request waits on PostgreSQL for them."""
        if self._fingerprint is None or self.refresh_s <= 0:
            await self.refresh(db)
        elif time.monotonic() - self._checked >= self.refresh_s and not self._lock.locked():
            task = asyncio.create_task(self._refresh_logged(db))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def pending(self) -> set[asyncio.Task]:
        return set(self._background)

    async def _refresh_logged(self, db: Database) -> None:
        try:
            await self.refresh(db)
        except Exception:  # the old index keeps serving; the next check retries
            log.exception("campaign index refresh failed")

    async def refresh(self, db: Database, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._checked < self.refresh_s:
            return
        async with self._lock:
            if not force and time.monotonic() - self._checked < self.refresh_s:
                return
            # It only reads: an autocommit session (no BEGIN/COMMIT), which in the tests also
            # takes no savepoint that could interleave with a request's on the shared connection.
            assert db.read_sessionmaker is not None
            async with db.read_sessionmaker() as session:
                repo = ServingRepository(session)
                fingerprint = await repo.fingerprint()
                if fingerprint != self._fingerprint:
                    await self._reload(session, repo)
                    self._fingerprint = fingerprint
            self._checked = time.monotonic()

    async def _reload(self, session, repo: ServingRepository) -> None:  # type: ignore[no-untyped-def]
        revisions = await repo.revisions()
        changed = [
            i
            for i, rev in revisions.items()
            if i not in self.campaigns or self.campaigns[i].revision != rev
        ]
        kept = {i: c for i, c in self.campaigns.items() if revisions.get(i) == c.revision}
        rows = await repo.serving_rows(changed) if changed else []
        place_rows = await places.places_by_ids(session, [r.place_id for r in rows])
        for row in rows:
            place = place_rows.get(row.place_id)
            if place is not None:
                # JSON-ready once per reload: every ad served embeds it as it is (the decision
                # is on the hot path of /v1/places/nearby, bench/ads_decision.py).
                served = places.place_read(place).model_dump(mode="json")
                kept[row.id] = _live(row, served, place.lat, place.lon)
        self._rebuild(kept)

    def _rebuild(self, campaigns: dict[int, LiveCampaign]) -> None:
        self.campaigns = campaigns
        self._order = list(campaigns.values())
        self._tree = STRtree([c.envelope() for c in self._order]) if self._order else None
        self._lats = np.array([c.lat for c in self._order])
        self._lons = np.array([c.lon for c in self._order])
        self._radii = np.array(
            [c.radius_m if c.radius_m is not None else -1.0 for c in self._order]
        )
        self.ids = np.array([c.id for c in self._order], dtype=np.int64)
        self.owners = np.array([c.owner_id for c in self._order], dtype=np.int64)
        self.starts = np.array([c.starts_at for c in self._order], dtype=float)
        self.ends = np.array([c.ends_at for c in self._order], dtype=float)
        self.bids = np.array([c.bid_cpm for c in self._order], dtype=float)
        self.has_categories = np.array([c.categories is not None for c in self._order], dtype=bool)
        self.version += 1

    def campaign_at(self, position: int) -> LiveCampaign:
        return self._order[position]

    def covering(self, lat: float, lon: float) -> list[tuple[LiveCampaign, float]]:
        """Campaigns whose target covers the point, each with its place's distance in metres."""
        positions, distances = self.covering_arrays(lat, lon)
        return [
            (self._order[p], float(d))
            for p, d in zip(positions.tolist(), distances.tolist(), strict=True)
        ]

    def covering_arrays(self, lat: float, lon: float) -> tuple[np.ndarray, np.ndarray]:
        """Positions (into the per-campaign columns) of the campaigns whose target covers the
        point, and their places' distances in metres, without a Python object per candidate."""
        if self._tree is None:
            return np.zeros(0, dtype=np.intp), np.zeros(0)
        hits = self._tree.query(shapely.Point(lon, lat))
        if len(hits) == 0:
            return hits, np.zeros(0)
        distances = haversine_m_many(lat, lon, self._lats[hits], self._lons[hits])
        radii = self._radii[hits]
        inside = distances <= radii  # radius targets; area targets have radius -1
        for k in np.flatnonzero(radii < 0).tolist():
            inside[k] = shapely.intersects_xy(self._order[hits[k]].area, lon, lat)
        return hits[inside], distances[inside]


def _live(row: ServingRow, place: dict[str, Any], lat: float, lon: float) -> LiveCampaign:
    area = None
    if row.target_area_wkb is not None:
        area = shapely.from_wkb(bytes(row.target_area_wkb))
        shapely.prepare(area)
    return LiveCampaign(
        id=row.id,
        owner_id=row.owner_id,
        revision=row.revision,
        place=place,
        lat=lat,
        lon=lon,
        radius_m=row.target_radius_m,
        area=area,
        bid_cpm=row.bid_cpm,
        budget_daily=row.budget_daily,
        starts_at=row.starts_at.timestamp(),
        ends_at=row.ends_at.timestamp(),
        hours=frozenset(row.hours) if row.hours else None,
        tz=ZoneInfo(row.timezone),
        categories=frozenset(row.categories) if row.categories else None,
        cap_count=row.cap_count,
        cap_ms=row.cap_hours * 3_600_000,
        holdout_share=float(row.holdout_share),
        headline=row.headline,
        body=row.body,
    )
