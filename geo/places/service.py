"""Place rules: who may create, what counts as a duplicate, how search filters resolve."""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from geo.core.auth import Actor
from geo.core.errors import Conflict, NotFound, Unprocessable
from geo.places.names import like_pattern, normalize_name
from geo.places.repository import NearbyQuery, PlaceReads, PlaceRepository, PlaceRow
from geo.places.schemas import (
    CategoryNode,
    PlaceCreate,
    PlaceFeature,
    PlaceRead,
    PointGeometry,
)

DUPLICATE_RADIUS_M = 50.0
MAX_RADIUS_M = 50_000
_CATEGORY_TTL_S = 300.0


class DuplicatePlace(Conflict):
    title, type_slug = "Duplicate place", "duplicate-place"


async def create_place(session: AsyncSession, *, actor: Actor, data: PlaceCreate) -> PlaceRow:
    """Register a venue. A business owns what it creates; members add venues for everyone.

    Raises:
        DuplicatePlace: the same normalised name already exists within 50 m (`existing` is set).
        Unprocessable: the category does not exist.
    """
    tree = await category_tree(session)
    if data.category not in tree.parent_of:
        raise Unprocessable(
            "Unknown category.",
            errors=[{"field": "body.category", "message": "not a category id from /v1/categories"}],
        )
    name_norm = normalize_name(data.name)
    if not name_norm:
        raise Unprocessable(
            "The name has no letters or digits.",
            errors=[{"field": "body.name", "message": "no letters or digits"}],
        )
    repo = PlaceRepository(session)
    await repo.lock_name(name_norm)
    existing = await repo.find_duplicate(
        name_norm=name_norm, lat=data.lat, lon=data.lon, within_m=DUPLICATE_RADIUS_M
    )
    if existing is not None:
        raise DuplicatePlace(
            f"{existing.name!r} already exists {existing.distance_m or 0:.0f} m away.",
            existing=place_read(existing).model_dump(mode="json"),
        )
    return await repo.insert(
        name=data.name,
        name_norm=name_norm,
        category=data.category,
        lat=data.lat,
        lon=data.lon,
        address=data.address,
        owner_id=actor.id if actor.kind == "business" else None,
    )


async def get_place(session: AsyncSession, place_id: int) -> PlaceRow:
    place = await PlaceRepository(session).by_id(place_id)
    if place is None:
        raise NotFound("No such place.")
    return place


async def places_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, PlaceRow]:
    return await PlaceRepository(session).by_ids(ids)


async def place_owner(session: AsyncSession, place_id: int) -> int | None:
    return await PlaceRepository(session).owner_of(place_id)


@dataclass(frozen=True)
class NearbySearch:
    lat: float
    lon: float
    radius_m: float
    limit: int
    category: str | None = None
    q: str | None = None


async def nearby_query(conn: asyncpg.Connection, search: NearbySearch) -> NearbyQuery:
    """Resolve a category to itself and its descendants, and text to a LIKE pattern."""
    categories = None
    if search.category is not None:
        tree = await _cached_tree(PlaceReads(conn).categories)
        if search.category not in tree.parent_of:
            raise Unprocessable(
                "Unknown category.",
                errors=[
                    {"field": "query.category", "message": "not a category id from /v1/categories"}
                ],
            )
        categories = tree.descendants(search.category)
    name_like = None
    if search.q is not None:
        normalized = normalize_name(search.q)
        name_like = like_pattern(normalized) if normalized else None
    return NearbyQuery(
        lat=search.lat,
        lon=search.lon,
        radius_m=search.radius_m,
        limit=search.limit,
        categories=categories,
        name_like=name_like,
    )


async def nearby_json(conn: asyncpg.Connection, search: NearbySearch) -> str:
    """Nearest places first, as a JSON array rendered by the database. Hot path: on a driver
    connection (`geo.core.db.lag_tolerant_connection`), not a session."""
    return await PlaceReads(conn).nearby_json(await nearby_query(conn, search))


async def places_in_box(
    session: AsyncSession, *, box: tuple[float, float, float, float], limit: int, before: int | None
) -> list[PlaceRow]:
    min_lon, min_lat, max_lon, max_lat = box
    return await PlaceRepository(session).in_box(
        min_lon=min_lon,
        min_lat=min_lat,
        max_lon=max_lon,
        max_lat=max_lat,
        limit=limit,
        before=before,
    )


@dataclass
class CategoryTreeIndex:
    names: dict[str, str]
    parent_of: dict[str, str | None]
    children: dict[str | None, list[str]]

    def descendants(self, root: str) -> list[str]:
        found, stack = [], [root]
        while stack:
            node = stack.pop()
            found.append(node)
            stack.extend(self.children.get(node, []))
        return found

    def as_tree(self, parent: str | None = None) -> list[CategoryNode]:
        return [
            CategoryNode(id=c, name=self.names[c], children=self.as_tree(c))
            for c in self.children.get(parent, [])
        ]


_tree_cache: tuple[float, CategoryTreeIndex] | None = None


async def category_tree(session: AsyncSession) -> CategoryTreeIndex:
    """The category tree, cached per process for a few minutes (it changes with migrations)."""
    return await _cached_tree(PlaceRepository(session).categories)


async def _cached_tree(
    load: Callable[[], Awaitable[list[tuple[str, str, str | None]]]],
) -> CategoryTreeIndex:
    global _tree_cache
    if _tree_cache is not None and _tree_cache[0] > time.monotonic():
        return _tree_cache[1]
    rows = await load()
    index = CategoryTreeIndex(names={}, parent_of={}, children={})
    for cid, name, parent in rows:
        index.names[cid] = name
        index.parent_of[cid] = parent
        index.children.setdefault(parent, []).append(cid)
    _tree_cache = (time.monotonic() + _CATEGORY_TTL_S, index)
    return index


def place_read(place: PlaceRow) -> PlaceRead:
    """The API's form of a place row."""
    return PlaceRead(
        id=str(place.id),
        name=place.name,
        category=place.category,
        lat=place.lat,
        lon=place.lon,
        address=place.address,
        created_at=place.created_at,
    )


def place_feature(place: PlaceRow) -> PlaceFeature:
    """A place as a GeoJSON Feature."""
    return PlaceFeature(
        type="Feature",
        id=str(place.id),
        geometry=PointGeometry(type="Point", coordinates=[place.lon, place.lat]),
        properties=place_read(place),
    )
