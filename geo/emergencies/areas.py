"""The active emergency areas, held in each process for the ads' hot path.

No ad is served to a viewer inside an active emergency's area. A decision must not cost a query,
so each process keeps the areas (shapely, prepared) and re-reads them when the shared version in
Redis moves (checked at most every CHECK_S), when this process changed one, or every RELOAD_S.
Start and end times are checked per call, so a scheduled end takes effect without a reload.

Only the ads' side lives here (no fan-out import), so the ads may ask without reaching further.
"""

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import shapely
from sqlalchemy.ext.asyncio import AsyncSession

from geo.core.db import Database
from geo.core.redis import RedisClient
from geo.core.types import rfc3339
from geo.emergencies import keys
from geo.emergencies.repository import EmergencyRepository
from geo.emergencies.schemas import AdsPause

CHECK_S = 0.5
RELOAD_S = 60.0


@dataclass
class ActiveAreas:
    version: bytes | str | None = None
    checked_at: float = float("-inf")
    loaded_at: float = float("-inf")
    areas: list[tuple[Any, datetime, datetime | None]] = field(default_factory=list)

    async def refresh(self, db: Database, redis: RedisClient) -> None:
        now = time.monotonic()
        if now - self.checked_at < CHECK_S:
            return
        self.checked_at = now
        version = await redis.get(keys.AREAS_VERSION)
        if version == self.version and now - self.loaded_at < RELOAD_S:
            return
        async with db.sessionmaker() as session:
            rows = await EmergencyRepository(session).not_ended()
        areas = []
        for row in rows:
            geometry = shapely.from_geojson(row.area_geojson)
            shapely.prepare(geometry)
            areas.append((geometry, row.starts_at, row.ends_at))
        self.areas, self.version, self.loaded_at = areas, version, now

    def inside(self, lat: float, lon: float) -> bool:
        now = datetime.now(UTC)
        return any(
            starts <= now and (ends is None or now < ends) and shapely.intersects_xy(g, lon, lat)
            for g, starts, ends in self.areas
        )


def _cache(state: Any) -> ActiveAreas:
    cache: ActiveAreas | None = getattr(state, "emergency_areas", None)
    if cache is None:
        cache = state.emergency_areas = ActiveAreas()
    return cache


def invalidate(state: Any) -> None:
    """This process declared or changed an emergency: re-read the areas on the next decision."""
    cache = _cache(state)
    cache.checked_at = cache.loaded_at = float("-inf")


async def ads_stand_down(state: Any, *, lat: float, lon: float) -> bool:
    """Is this position inside an active emergency's area (where no ad is served)?"""
    cache = _cache(state)
    await cache.refresh(state.db, state.redis)
    return cache.inside(lat, lon)


async def bump_version(redis: RedisClient) -> None:
    """Tell every process to re-read the areas (called after the change was committed)."""
    await redis.incr(keys.AREAS_VERSION)


async def pauses(
    session: AsyncSession,
    *,
    target: dict[str, Any],
    lat: float,
    lon: float,
    start: datetime,
    end: datetime,
) -> list[AdsPause]:
    """When a campaign's ads stood down in part of its target (`{radius_m}` around its place at
    lat/lon, or `{area}`) for an emergency, within [start, end): times only, never a figure of
    the emergency (no emergency figure reaches an advertiser)."""
    area = target.get("area")
    windows = await EmergencyRepository(session).overlapping(
        area=orjson.dumps(area).decode() if area else None,
        lat=lat,
        lon=lon,
        radius_m=float(target.get("radius_m") or 0),
        start=start,
        end=end,
    )
    return [
        AdsPause(
            from_=rfc3339(max(s, start)),
            to=rfc3339(e) if e and e < end else None,
            reason="emergency",
        )
        for s, e in windows
    ]
