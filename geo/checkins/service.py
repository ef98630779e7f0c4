"""Check-in rules: plausibility, rate, idempotency, audiences and the view each viewer gets."""

import math
import time
from datetime import UTC, datetime
from typing import Any, Protocol

import h3
from sqlalchemy.ext.asyncio import AsyncSession

from geo.accounts import service as accounts
from geo.checkins import keys, plausibility
from geo.checkins.repository import CheckinRepository, CheckinRow, DeliveryFacts
from geo.checkins.schemas import (
    CellPlace,
    CheckinAccount,
    CheckinRead,
    ExactPlace,
)
from geo.core import outages
from geo.core.auth import Actor
from geo.core.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unprocessable
from geo.core.geodesy import haversine_m
from geo.core.ids import id_floor_for
from geo.core.metrics import OUTAGE_FALLBACKS
from geo.core.redis import RedisClient
from geo.outbox import events as outbox
from geo.places import service as places

AREA_RESOLUTION = 7  # H3 cells of ~5 km²: a neighbourhood
CITY_RESOLUTION = 5  # ~250 km²: a city and its surroundings
WIDE_RADIUS_M = 3000  # the local stream reads city-resolution cells beyond this radius
EDGE_SLACK = 0.7  # H3 cells vary in size: assume edges as short as 70 % of the average


class RecentCheckins(Protocol):
    """Where the rate rule's fallback counts: `CheckinRepository` (a session) or
    `CheckinWrites` (the check-in write's connection)."""

    async def count_recent(self, *, author_id: int, since_id: int) -> int: ...


class IdempotencyStore(Protocol):
    """The Idempotency-Key store, on a session (`CheckinRepository`) or a connection
    (`CheckinWrites`)."""

    async def release_stale_key(self, *, account_id: int, key: str) -> None: ...

    async def claim_idempotency_key(
        self, *, account_id: int, key: str, request_hash: bytes
    ) -> bool: ...

    async def stored_answer(
        self, *, account_id: int, key: str
    ) -> tuple[bytes, int | None, dict | None] | None: ...  # type: ignore[type-arg]


async def check_rate(
    session: AsyncSession, redis: RedisClient, author_id: int, now: float | None = None
) -> None:
    """`check_rate_on` a session's transaction."""
    await check_rate_on(CheckinRepository(session), redis, author_id, now)


async def check_rate_on(
    checkins: RecentCheckins, redis: RedisClient, author_id: int, now: float | None = None
) -> None:
    """At most MAX_PER_MINUTE check-ins per author and clock minute; 429 beyond.

    Counted in Redis (one round trip). While Redis is down the rule falls back to PostgreSQL,
    which holds every check-in anyway: counting the author's rows of this minute (by id, which
    grows with the clock, on the (author_id, id) index) keeps the same limit, so check-ins are
    still accepted during a Redis outage without the limit failing open. The fallback costs a
    lock and a count per check-in, only while Redis is missing.
    """
    now = time.time() if now is None else now
    minute = int(now // 60)
    key = keys.rate_key(author_id, minute)
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            count, _ = await pipe.execute()
    except outages.REDIS_DOWN:
        OUTAGE_FALLBACKS.labels(outages.REDIS, "checkin-rate").inc()
        since = id_floor_for(datetime.fromtimestamp(minute * 60, UTC))
        earlier = await checkins.count_recent(author_id=author_id, since_id=since)
        count = earlier + 1
    if count > plausibility.MAX_PER_MINUTE:
        raise TooManyRequests(
            retry_after=int(60 - now % 60) + 1,
            detail=f"At most {plausibility.MAX_PER_MINUTE} check-ins a minute.",
        )


async def claim_idempotency_or_replay(
    repo: IdempotencyStore, account_id: int, key: str, request_hash: bytes
) -> tuple[int, dict[str, Any]] | None:
    await repo.release_stale_key(account_id=account_id, key=key)
    if await repo.claim_idempotency_key(account_id=account_id, key=key, request_hash=request_hash):
        return None
    stored = await repo.stored_answer(account_id=account_id, key=key)
    if stored is None or stored[1] is None:
        raise Conflict("A request with this Idempotency-Key is still in flight; retry.")
    if stored[0] != request_hash:
        raise Unprocessable("This Idempotency-Key was used with another body.")
    return stored[1], stored[2] or {}


async def get_checkin(session: AsyncSession, *, actor: Actor, checkin_id: int) -> CheckinRead:
    row = await CheckinRepository(session).visible(viewer_id=actor.id, checkin_id=checkin_id)
    if row is None:
        raise NotFound("No such check-in.")
    return (await render(session, [row]))[0]


async def delete_checkin(session: AsyncSession, *, actor: Actor, checkin_id: int) -> None:
    repo = CheckinRepository(session)
    facts = await repo.delete_own(author_id=actor.id, checkin_id=checkin_id)
    if facts is None:
        if await repo.visible(viewer_id=actor.id, checkin_id=checkin_id):
            raise Forbidden("Only the author may delete a check-in.")
        raise NotFound("No such check-in.")
    await record_deleted(session, checkin_id, facts)


async def record_deleted(session: AsyncSession, checkin_id: int, facts: DeliveryFacts) -> None:
    """Record a deleted check-in's retraction for the fan-out (in the deleting transaction)."""
    await outbox.record_checkin_deleted(
        session,
        checkin_id=checkin_id,
        author_id=facts.author_id,
        circle_ids=list(facts.circle_ids),
        public=facts.public,
    )


async def delivery_facts_many(
    session: AsyncSession, checkin_ids: list[int]
) -> dict[int, DeliveryFacts]:
    """The facts of those check-ins that still exist, by id (one query)."""
    return await CheckinRepository(session).delivery_facts_many(checkin_ids)


async def not_for_home(
    session: AsyncSession, *, viewer_id: int, author_id: int, ids: list[int]
) -> list[int]:
    """Which of these home timeline ids the viewer should no longer hold: deleted check-ins, and
    the author's that the viewer no longer receives (not in a circle, not following, blocked)."""
    if not ids:
        return []
    return await CheckinRepository(session).not_for_home(
        viewer_id=viewer_id, author_id=author_id, ids=ids
    )


async def ids_after(session: AsyncSession, after: int, limit: int) -> list[int]:
    """Check-in ids in creation order, for rebuilding caches from PostgreSQL."""
    return await CheckinRepository(session).ids_after(after, limit)


async def home_ids(session: AsyncSession, *, viewer_id: int, limit: int) -> list[int]:
    """The newest check-ins this viewer receives by today's graph (a regenerated home)."""
    return await CheckinRepository(session).home_ids(viewer_id=viewer_id, limit=limit)


async def public_ids(session: AsyncSession, *, limit: int) -> list[int]:
    return await CheckinRepository(session).public_ids(limit)


async def recent_authors(session: AsyncSession, *, since_id: int, limit: int) -> list[int]:
    """Accounts active lately (they checked in from id `since_id` on), most recent first."""
    return await CheckinRepository(session).recent_authors(since_id=since_id, limit=limit)


async def render_visible(
    session: AsyncSession, *, actor: Actor, ids: list[int]
) -> list[CheckinRead]:
    """The given check-ins that this viewer may still see, newest first, rendered for them.

    Timelines are caches: this re-check is what makes an unfriend or block take effect at once.
    """
    if not ids:
        return []
    rows = await CheckinRepository(session).visible_by_ids(viewer_id=actor.id, ids=ids)
    return await render(session, rows)


async def list_checkins(
    session: AsyncSession,
    *,
    actor: Actor,
    author_id: int | None = None,
    place_id: int | None = None,
    limit: int,
    before: int | None,
) -> list[CheckinRead]:
    rows = await CheckinRepository(session).visible_page(
        viewer_id=actor.id, author_id=author_id, place_id=place_id, limit=limit, before=before
    )
    return await render(session, rows)


async def local_public(
    session: AsyncSession,
    *,
    actor: Actor,
    lat: float,
    lon: float,
    radius_m: float,
    limit: int,
    before: int | None,
) -> list[CheckinRead]:
    """The local public stream for this viewer: public check-ins whose public position (see
    `public_point`) is within radius_m of the point, newest first, rendered for them."""
    resolution, cells = covering_cells(lat, lon, radius_m)
    rows = await CheckinRepository(session).public_near(
        viewer_id=actor.id,
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        resolution=resolution,
        cells=cells,
        limit=limit,
        before=before,
    )
    return await render(session, rows)


def public_cells(lat: float, lon: float) -> tuple[int, int]:
    """The H3 cells (resolutions 7 and 5, as integers) of a public position, for its index."""
    return (
        h3.str_to_int(h3.latlng_to_cell(lat, lon, AREA_RESOLUTION)),
        h3.str_to_int(h3.latlng_to_cell(lat, lon, CITY_RESOLUTION)),
    )


def covering_cells(lat: float, lon: float, radius_m: float) -> tuple[int, list[int]]:
    """A resolution and the cells at it that hold every point within radius_m of (lat, lon).

    A point d metres away lies in a cell whose centre is at most d + 2 edges from the reader's
    cell centre, and grid steps are at least 1.5 edges long: the k-ring below covers it with
    EDGE_SLACK for cells smaller than the average; cells whose centre is farther than the radius
    plus a circumradius (with slack) are dropped. Coarse cells for a wide radius keep the number
    of index ranges read small (under 100)."""
    resolution = AREA_RESOLUTION if radius_m <= WIDE_RADIUS_M else CITY_RESOLUTION
    edge = h3.average_hexagon_edge_length(resolution, unit="m")
    k = math.ceil((radius_m + 2 * edge) / (1.5 * edge * EDGE_SLACK))
    disk = h3.grid_disk(h3.latlng_to_cell(lat, lon, resolution), k)
    reach = radius_m + edge / EDGE_SLACK
    return resolution, [
        h3.str_to_int(cell)
        for cell in disk
        if haversine_m(lat, lon, *h3.cell_to_latlng(cell)) <= reach
    ]


def public_point(lat: float, lon: float, precision: str) -> tuple[float, float]:
    """Where the public may know a check-in to be: the venue (`exact`) or its cell's centre.

    The stored, indexed position the local public stream searches: the same cell centre as the
    public view (`_place_view`), so a spatial query can never reveal more than the view does."""
    if precision == "exact":
        return lat, lon
    resolution = AREA_RESOLUTION if precision == "area" else CITY_RESOLUTION
    return h3.cell_to_latlng(h3.latlng_to_cell(lat, lon, resolution))


async def render(
    session: AsyncSession,
    rows: list[CheckinRow],
    *,
    handles: dict[int, str] | None = None,
    known_places: dict[int, Any] | None = None,
) -> list[CheckinRead]:
    """Each row as its viewer may see it, hydrated in bulk (one query for places unless they are
    all `known_places`, one for people unless the authors' `handles` are known)."""
    found_places = dict(known_places or {})
    missing = [r.place_id for r in rows if r.place_id not in found_places]
    if missing:
        found_places |= await places.places_by_ids(session, missing)
    if handles is None:
        found = await accounts.accounts_by_ids(session, [r.author_id for r in rows])
        handles = {account_id: account.handle for account_id, account in found.items()}
    views = []
    for row in rows:
        place = found_places[row.place_id]
        precision = "exact" if row.via_circle else row.public_precision
        views.append(
            CheckinRead(
                id=str(row.id),
                account=CheckinAccount(id=str(row.author_id), handle=handles[row.author_id]),
                place=_place_view(place, precision),
                message=row.message,
                created_at=row.created_at,
                audience="circle" if row.via_circle else "public",
            )
        )
    return views


def _place_view(place: Any, precision: str) -> ExactPlace | CellPlace:
    if precision == "exact":
        return ExactPlace(precision="exact", **dict(places.place_read(place)))
    resolution = AREA_RESOLUTION if precision == "area" else CITY_RESOLUTION
    # Only the cell leaves the server: its centre, never the venue or its coordinates.
    cell = h3.latlng_to_cell(place.lat, place.lon, resolution)
    lat, lon = h3.cell_to_latlng(cell)
    return CellPlace(
        precision="area" if precision == "area" else "city",
        cell=cell,
        lat=round(lat, 6),
        lon=round(lon, 6),
    )
