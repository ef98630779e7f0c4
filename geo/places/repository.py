"""Every spatial query of the place registry lives here.

Distances are geodesic on WGS 84 (`geography`, spheroid). KNN order (`<->`) walks the GiST index on
the sphere, so the page is re-sorted by its spheroid distance before it is returned.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from geo.core.db import native_sql

POINT = "ST_SetSRID(ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)), 4326)::geography"

PLACE_COLUMNS = """p.id, p.name, p.category, ST_Y(p.position::geometry) AS lat,
    ST_X(p.position::geometry) AS lon, p.address, p.created_at"""

# The same columns rendered as JSON by PostgreSQL (ids as strings, RFC 3339 UTC times).
PLACE_JSON_COLUMNS = """p.id::text AS id, p.name, p.category, ST_Y(p.position::geometry) AS lat,
    ST_X(p.position::geometry) AS lon, p.address,
    to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at"""


@dataclass(frozen=True, slots=True)
class PlaceRow:
    id: int
    name: str
    category: str
    lat: float
    lon: float
    address: str | None
    created_at: datetime
    distance_m: float | None = None


@dataclass(frozen=True)
class NearbyQuery:
    lat: float
    lon: float
    radius_m: float
    limit: int
    categories: list[str] | None = None
    name_like: str | None = None


class PlaceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_name(self, name_norm: str) -> None:
        """Serialise creates of one normalised name, so two racing duplicates cannot both land."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:n, 7))"), {"n": name_norm}
        )

    async def find_duplicate(
        self, *, name_norm: str, lat: float, lon: float, within_m: float
    ) -> PlaceRow | None:
        sql = text(f"""
            SELECT {PLACE_COLUMNS}, ST_Distance(p.position, {POINT}) AS distance_m
            FROM places p
            WHERE p.name_norm = :n AND ST_DWithin(p.position, {POINT}, :r)
            ORDER BY distance_m LIMIT 1""")
        # Not KNN (`<->`): the few same-name rows within the radius need no index order, and the
        # geography GiST KNN scan fails at lon ±180 ("index returned tuples in wrong order").
        row = (
            await self.session.execute(sql, {"n": name_norm, "lat": lat, "lon": lon, "r": within_m})
        ).first()
        return PlaceRow(*row) if row else None

    async def insert(
        self,
        *,
        name: str,
        name_norm: str,
        category: str,
        lat: float,
        lon: float,
        address: str | None,
        owner_id: int | None,
    ) -> PlaceRow:
        sql = text(f"""
            INSERT INTO places AS p (name, name_norm, category, position, address, owner_id)
            VALUES (:name, :n, :category, {POINT}, :address, :owner)
            RETURNING {PLACE_COLUMNS}""")
        row = (
            await self.session.execute(
                sql,
                {
                    "name": name,
                    "n": name_norm,
                    "category": category,
                    "lat": lat,
                    "lon": lon,
                    "address": address,
                    "owner": owner_id,
                },
            )
        ).one()
        return PlaceRow(*row)

    async def by_id(self, place_id: int) -> PlaceRow | None:
        sql = text(f"SELECT {PLACE_COLUMNS} FROM places p WHERE p.id = :id")
        row = (await self.session.execute(sql, {"id": place_id})).first()
        return PlaceRow(*row) if row else None

    async def by_ids(self, ids: list[int]) -> dict[int, PlaceRow]:
        if not ids:
            return {}
        sql = text(f"SELECT {PLACE_COLUMNS} FROM places p WHERE p.id = ANY(:ids)")
        rows = (await self.session.execute(sql, {"ids": list(set(ids))})).all()
        return {row[0]: PlaceRow(*row) for row in rows}

    async def owner_of(self, place_id: int) -> int | None:
        sql = text("SELECT owner_id FROM places WHERE id = :id")
        return (await self.session.execute(sql, {"id": place_id})).scalar_one_or_none()

    async def in_box(
        self,
        *,
        min_lon: float,
        min_lat: float,
        max_lon: float,
        max_lat: float,
        limit: int,
        before: int | None,
    ) -> list[PlaceRow]:
        # The box's edges are parallels and meridians (planar in lon/lat), but a geography polygon's
        # edges are geodesics that bow poleward. So the GiST filter uses a padded, densified copy of
        # the box (bow < 2 m per 0.1 degree, pad 0.01 degree), and the exact test is planar.
        # Boxes wider than a hemisphere skip the index: they are a scan anyway.
        wide = (max_lon - min_lon) > 180 or (max_lat - min_lat) > 90
        index_filter = (
            ""
            if wide
            else """
              p.position && ST_Segmentize(ST_MakeEnvelope(
                  greatest(:x0 - 0.01, -180), greatest(:y0 - 0.01, -90),
                  least(:x1 + 0.01, 180), least(:y1 + 0.01, 90), 4326), 0.1)::geography AND"""
        )
        sql = text(f"""
            SELECT {PLACE_COLUMNS} FROM places p
            WHERE {index_filter}
              ST_Covers(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326), p.position::geometry)
              AND (CAST(:before AS bigint) IS NULL OR p.id < :before)
            ORDER BY p.id DESC LIMIT :limit""")
        rows = (
            await self.session.execute(
                sql,
                {
                    "x0": min_lon,
                    "y0": min_lat,
                    "x1": max_lon,
                    "y1": max_lat,
                    "limit": limit,
                    "before": before,
                },
            )
        ).all()
        return [PlaceRow(*row) for row in rows]

    async def categories(self) -> list[tuple[str, str, str | None]]:
        sql = text(CATEGORIES_SQL)
        return [tuple(r) for r in (await self.session.execute(sql)).all()]  # type: ignore[misc]


CATEGORIES_SQL = "SELECT id, name, parent_id FROM categories ORDER BY position, id"


class PlaceReads:
    """The hottest reads, on an asyncpg connection (`geo.core.db.lag_tolerant_connection`):
    prepared statements, no SQLAlchemy session or execution path. Opening a session and going
    through it cost nearby about a fifth of its CPU (docs/benchmarks.md, issue 13)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def nearby_json(self, query: NearbyQuery) -> str:
        """The nearest places as one JSON array, built by PostgreSQL (nothing per row in Python)."""
        filters, params = _nearby_filters(query)
        sql, names = native_sql(_nearby_json_sql(filters))
        return await self.conn.fetchval(sql, *[params[name] for name in names])

    async def categories(self) -> list[tuple[str, str, str | None]]:
        return [tuple(r) for r in await self.conn.fetch(CATEGORIES_SQL)]  # type: ignore[misc]


def _nearby_filters(query: NearbyQuery) -> tuple[str, dict[str, object]]:
    params: dict[str, object] = {
        "lat": query.lat,
        "lon": query.lon,
        "radius": query.radius_m,
        "limit": query.limit,
    }
    filters = ""
    if query.categories is not None:
        filters += " AND p.category = ANY(CAST(:cats AS text[]))"
        params["cats"] = query.categories
    if query.name_like is not None:
        filters += " AND p.name_norm LIKE :like"
        params["like"] = query.name_like
    return filters, params


@lru_cache(maxsize=8)
def _nearby_json_sql(filters: str) -> str:
    # One statement text per filter combination: the hot path builds no SQL per request.
    return f"""
        SELECT coalesce(json_agg(x ORDER BY x.distance_m, x.id), '[]')::text FROM (
            SELECT {PLACE_JSON_COLUMNS},
                   round(ST_Distance(p.position, {POINT})::numeric, 1) AS distance_m
            FROM places p
            WHERE ST_DWithin(p.position, {POINT}, :radius) {filters}
            ORDER BY p.position <-> {POINT}
            LIMIT :limit) x"""
