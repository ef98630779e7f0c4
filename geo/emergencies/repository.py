"""Every query of emergencies (their areas are geography polygons; spatial SQL lives here)."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

AREA = "ST_GeomFromGeoJSON(:area)"
POINT = "ST_SetSRID(ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)), 4326)::geography"
COLUMNS = """e.id, e.name, ST_AsGeoJSON(e.area::geometry, 6), e.starts_at, e.ends_at,
    e.lookback_hours"""
# clock_timestamp(), not now(): an end set earlier in the same transaction counts at once.
NOT_ENDED = "(e.ends_at IS NULL OR e.ends_at > clock_timestamp())"


@dataclass(frozen=True, slots=True)
class EmergencyRow:
    id: int
    name: str
    area_geojson: str
    starts_at: datetime
    ends_at: datetime | None
    lookback_hours: int


@dataclass(frozen=True, slots=True)
class AreaCheck:
    valid: bool
    reason: str
    area_km2: float


class EmergencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def check_area(self, geojson: str) -> AreaCheck:
        """Validity (ST_IsValid, with the reason: e.g. a self-intersection) and geodesic area."""
        row = (
            await self.session.execute(
                text(f"""
            SELECT ST_IsValid(g), ST_IsValidReason(g),
                   CASE WHEN ST_IsValid(g) THEN ST_Area(g::geography) / 1e6 ELSE 0 END
            FROM (SELECT {AREA} AS g) x"""),
                {"area": geojson},
            )
        ).one()
        return AreaCheck(bool(row[0]), str(row[1]), float(row[2]))

    async def circle_geojson(self, *, lat: float, lon: float, radius_m: float) -> str:
        """A point and radius as a polygon (64 edges), buffered on the sphere in metres."""
        return str(
            (
                await self.session.execute(
                    text(f"SELECT ST_AsGeoJSON(ST_Buffer({POINT}, :r, 16)::geometry, 6)"),
                    {"lat": lat, "lon": lon, "r": radius_m},
                )
            ).scalar_one()
        )

    async def insert(
        self,
        *,
        name: str,
        geojson: str,
        declared_by: int,
        starts_at: datetime | None,
        ends_at: datetime | None,
        lookback_hours: int,
    ) -> EmergencyRow:
        row = (
            await self.session.execute(
                text(f"""
            INSERT INTO emergencies AS e (name, area, declared_by, starts_at, ends_at,
                                          lookback_hours)
            VALUES (:name, {AREA}::geography, :by, COALESCE(:starts, clock_timestamp()), :ends,
                    :lookback)
            RETURNING {COLUMNS}"""),
                {
                    "name": name,
                    "area": geojson,
                    "by": declared_by,
                    "starts": starts_at,
                    "ends": ends_at,
                    "lookback": lookback_hours,
                },
            )
        ).one()
        return EmergencyRow(*row)

    async def by_id(self, emergency_id: int) -> EmergencyRow | None:
        row = (
            await self.session.execute(
                text(f"SELECT {COLUMNS} FROM emergencies e WHERE e.id = :id"), {"id": emergency_id}
            )
        ).first()
        return EmergencyRow(*row) if row else None

    async def page(self, *, active: bool, limit: int, before: int | None) -> list[EmergencyRow]:
        where = NOT_ENDED if active else "true"
        rows = (
            await self.session.execute(
                text(f"""
            SELECT {COLUMNS} FROM emergencies e
            WHERE {where} AND (CAST(:before AS bigint) IS NULL OR e.id < :before)
            ORDER BY e.id DESC LIMIT :limit"""),
                {"before": before, "limit": limit},
            )
        ).all()
        return [EmergencyRow(*r) for r in rows]

    async def set_end(self, emergency_id: int, ends_at: datetime | None) -> EmergencyRow | None:
        """Move the end (None: now). An end not after the start is clamped to just after it."""
        row = (
            await self.session.execute(
                text(f"""
            UPDATE emergencies e
            SET ends_at = GREATEST(COALESCE(:ends, clock_timestamp()),
                                   e.starts_at + interval '1 ms')
            WHERE e.id = :id RETURNING {COLUMNS}"""),
                {"id": emergency_id, "ends": ends_at},
            )
        ).first()
        return EmergencyRow(*row) if row else None

    async def covers(
        self, emergency_id: int, *, lat: float, lon: float, tolerance_m: float
    ) -> bool:
        """Is the point within `tolerance_m` of the emergency's area (its accuracy)?"""
        return bool(
            (
                await self.session.execute(
                    text(f"""
            SELECT ST_DWithin(e.area, {POINT}, :tol) FROM emergencies e WHERE e.id = :id"""),
                    {"id": emergency_id, "lat": lat, "lon": lon, "tol": tolerance_m},
                )
            ).scalar()
        )

    async def not_ended(self) -> list[EmergencyRow]:
        rows = (
            await self.session.execute(
                text(f"SELECT {COLUMNS} FROM emergencies e WHERE {NOT_ENDED} ORDER BY e.id")
            )
        ).all()
        return [EmergencyRow(*r) for r in rows]

    async def overlapping(
        self,
        *,
        area: str | None,
        lat: float,
        lon: float,
        radius_m: float,
        start: datetime,
        end: datetime,
    ) -> list[tuple[datetime, datetime | None]]:
        """The time windows, within [start, end), of emergencies whose area meets a target: the
        GeoJSON `area`, or else `radius_m` around the point."""
        rows = (
            await self.session.execute(
                text(f"""
            SELECT e.starts_at, e.ends_at FROM emergencies e
            WHERE (CASE WHEN CAST(:area AS text) IS NULL THEN ST_DWithin(e.area, {POINT}, :r)
                        ELSE ST_Intersects(e.area, ST_GeomFromGeoJSON(:area)::geography) END)
              AND e.starts_at < :end AND (e.ends_at IS NULL OR e.ends_at > :start)
            ORDER BY e.starts_at"""),
                {
                    "area": area,
                    "lat": lat,
                    "lon": lon,
                    "r": radius_m,
                    "start": start,
                    "end": end,
                },
            )
        ).all()
        return [(r[0], r[1]) for r in rows]
