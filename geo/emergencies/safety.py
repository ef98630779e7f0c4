"""Safety check-ins: who may report in an emergency, to whom it goes, and the friends' board."""

import hashlib
from datetime import UTC, datetime
from typing import Any

import h3
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from geo.accounts import service as accounts
from geo.checkins import plausibility, presence
from geo.checkins.schemas import CellPlace, CheckinAccount, CheckinRead, ExactPlace
from geo.checkins.service import (
    AREA_RESOLUTION,
    check_rate,
    covering_cells,
    public_cells,
    public_point,
)
from geo.core.auth import Actor
from geo.core.errors import Conflict, NotFound, Unprocessable
from geo.core.ids import MAX_ID
from geo.core.redis import RedisClient
from geo.emergencies import service as emergencies
from geo.emergencies.repository import EmergencyRow
from geo.emergencies.safety_repository import ReportFacts, ReportRow, SafetyRepository
from geo.emergencies.schemas import (
    Board,
    BoardItem,
    SafetyAreaPlace,
    SafetyCreate,
    SafetyExactPlace,
    SafetyRead,
)
from geo.social import service as social

# The board lists those who need help first, then those not heard from, then the safe.
BOARD_ORDER = {"need_help": 0, "unknown": 1, "safe": 2}


def _request_hash(emergency_id: int, data: SafetyCreate) -> bytes:
    body = orjson.dumps(data.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(b"safety:%d:" % emergency_id + body).digest()


async def create_report(
    session: AsyncSession,
    redis: RedisClient,
    *,
    actor: Actor,
    emergency_id: int,
    data: SafetyCreate,
    idempotency_key: str | None,
) -> tuple[int, SafetyRead]:
    """Store a safety report once however often it is retried, with its priority fan-out event.

    Returns the status and body of the answer (the first answer again for a retried key).
    """
    emergency = await emergencies.get_row(session, emergency_id)
    if idempotency_key is not None:
        replay = await presence.claim_or_replay(
            session,
            account_id=actor.id,
            key=idempotency_key,
            request_hash=_request_hash(emergency_id, data),
        )
        if replay is not None:
            # The stored answer is the JSON this function rendered the first time.
            return replay[0], SafetyRead.model_validate(replay[1])
    if not emergencies.is_active(emergency):
        raise Conflict("This emergency has ended.")
    report = await _create(session, redis, actor=actor, emergency=emergency, data=data)
    if idempotency_key is not None:
        await presence.store_answer(
            session,
            account_id=actor.id,
            key=idempotency_key,
            status=201,
            body=report.model_dump(mode="json"),
        )
    return 201, report


async def _circles(session: AsyncSession, actor: Actor, data: SafetyCreate) -> list[int] | None:
    if data.audience is None or not data.audience.circles:
        return None  # all friends: the default, and what "no circles named" means here
    circle_ids = sorted({int(c) for c in data.audience.circles})
    for circle_id in circle_ids:
        if circle_id > MAX_ID:
            raise NotFound("No such circle.")
        await social.get_circle(session, actor=actor, circle_id=circle_id)
    return circle_ids


async def _check_presence(
    session: AsyncSession, *, actor: Actor, emergency: EmergencyRow, data: SafetyCreate
) -> None:
    """Inside by a plausible reported position, or by a check-in inside within the look-back."""
    if data.lat is not None and data.lon is not None and data.accuracy_m is not None:
        plausibility.check_accuracy(data.accuracy_m)
        last = await presence.last_position(session, actor.id)
        plausibility.check_speed(
            previous=(last.lat, last.lon, last.created_at) if last else None,
            lat=data.lat,
            lon=data.lon,
            now=datetime.now(UTC),
        )
        if await emergencies.covers(
            session, emergency, lat=data.lat, lon=data.lon, accuracy_m=data.accuracy_m
        ):
            return
    if await presence.checked_in_inside(
        session,
        author_id=actor.id,
        area=emergency.area_geojson,
        since=emergencies.lookback_start(emergency),
    ):
        return
    raise Unprocessable(
        "You are not in this emergency's area, by your position or a recent check-in.",
        errors=[{"field": "body.lat", "message": "outside the emergency area"}],
    )


async def _create(
    session: AsyncSession,
    redis: RedisClient,
    *,
    actor: Actor,
    emergency: EmergencyRow,
    data: SafetyCreate,
) -> SafetyRead:
    circle_ids = await _circles(session, actor, data)
    await _check_presence(session, actor=actor, emergency=emergency, data=data)
    # The check-ins' limit (one count for both). While Redis is down its fallback counts only
    # check-ins, so safety reports then go unlimited: failing open is chosen here, as a report
    # in an emergency matters more than the limit (and Idempotency-Key keeps retries single).
    await check_rate(session, redis, actor.id)
    position = (
        (data.lat, data.lon, data.accuracy_m)
        if data.lat is not None and data.lon is not None and data.accuracy_m is not None
        else None
    )
    public = bool(data.audience and data.audience.public)
    report_id, created_at = await SafetyRepository(session).insert_with_event(
        emergency_id=emergency.id,
        author_id=actor.id,
        status=data.status,
        message=data.message,
        position=position,
        circle_ids=circle_ids,
        public=public,
        public_place=_public_place(position) if public else None,
    )
    row = ReportRow(
        report_id,
        emergency.id,
        actor.id,
        data.status,
        data.message,
        data.lat if position else None,
        data.lon if position else None,
        created_at,
        via_circle=True,
    )
    return render([row], {actor.id: actor.handle})[0]


def _public_place(
    position: tuple[float, float, float] | None,
) -> tuple[float, float, int, int] | None:
    """Where the local public stream places a public report: the centre of its area cell (what
    `place_view` shows the public), so a spatial query never reveals more than the view does."""
    if position is None:
        return None
    lat, lon = public_point(position[0], position[1], "area")
    return (lat, lon, *public_cells(lat, lon))


async def local_public(
    session: AsyncSession,
    *,
    actor: Actor,
    lat: float,
    lon: float,
    radius_m: float,
    limit: int,
    before: int | None,
) -> list[SafetyRead]:
    """Public safety reports whose public position is within radius_m of the point, newest
    first, rendered for this viewer (a report without a position has no place here)."""
    resolution, cells = covering_cells(lat, lon, radius_m)
    rows = await SafetyRepository(session).public_near(
        viewer_id=actor.id,
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        resolution=resolution,
        cells=cells,
        limit=limit,
        before=before,
    )
    found = await accounts.accounts_by_ids(session, sorted({r.author_id for r in rows}))
    return render(rows, {i: a.handle for i, a in found.items()})


def place_view(
    lat: float | None, lon: float | None, *, exact: bool
) -> SafetyExactPlace | SafetyAreaPlace | None:
    """The reported position: exact for the private audience, the area cell for the public."""
    if lat is None or lon is None:
        return None
    if exact:
        return SafetyExactPlace(precision="exact", lat=round(lat, 6), lon=round(lon, 6))
    cell = h3.latlng_to_cell(lat, lon, AREA_RESOLUTION)
    clat, clon = h3.cell_to_latlng(cell)
    return SafetyAreaPlace(precision="area", cell=cell, lat=round(clat, 6), lon=round(clon, 6))


def render(rows: list[ReportRow], handles: dict[int, str]) -> list[SafetyRead]:
    return [
        SafetyRead(
            id=str(r.id),
            kind="safety",
            emergency_id=str(r.emergency_id),
            account=CheckinAccount(id=str(r.author_id), handle=handles[r.author_id]),
            status=r.status,  # type: ignore[arg-type]  # the column's CHECK holds the Literal's
            message=r.message,
            created_at=r.created_at,
            audience="circle" if r.via_circle else "public",
            place=place_view(r.lat, r.lon, exact=r.via_circle),
        )
        for r in rows
    ]


async def render_visible(
    session: AsyncSession, *, actor: Actor, ids: list[int]
) -> list[SafetyRead]:
    """Those of these ids that are safety reports this viewer may see, newest first."""
    if not ids:
        return []
    rows = await SafetyRepository(session).visible_by_ids(viewer_id=actor.id, ids=ids)
    found = await accounts.accounts_by_ids(session, sorted({r.author_id for r in rows}))
    return render(rows, {i: a.handle for i, a in found.items()})


async def delivery_facts_many(session: AsyncSession, ids: list[int]) -> dict[int, ReportFacts]:
    return await SafetyRepository(session).facts_many(ids)


async def home_ids(session: AsyncSession, *, viewer_id: int, limit: int) -> list[int]:
    """The newest reports this viewer receives by today's graph (a regenerated home)."""
    return await SafetyRepository(session).home_ids(viewer_id=viewer_id, limit=limit)


async def public_ids(session: AsyncSession, *, limit: int) -> list[int]:
    return await SafetyRepository(session).public_ids(limit)


async def ids_after(session: AsyncSession, after: int, limit: int) -> list[int]:
    """Report ids in creation order, for rebuilding caches from PostgreSQL."""
    return await SafetyRepository(session).ids_after(after, limit)


async def split_home_ids(session: AsyncSession, ids: list[int]) -> tuple[list[int], list[int]]:
    """Home timeline ids as (safety reports, the rest)."""
    reports = await SafetyRepository(session).which_exist(ids) if ids else set()
    return [i for i in ids if i in reports], [i for i in ids if i not in reports]


async def not_for_home(
    session: AsyncSession, *, viewer_id: int, author_id: int, ids: list[int]
) -> list[int]:
    if not ids:
        return []
    return await SafetyRepository(session).not_for_home(
        viewer_id=viewer_id, author_id=author_id, ids=ids
    )


async def board(session: AsyncSession, *, actor: Actor, emergency_id: int) -> Board:
    """The caller's friends who reported or were last seen in the area, while it is active."""
    emergency = await emergencies.active_row(session, emergency_id)
    reports = {
        r.author_id: r
        for r in await SafetyRepository(session).latest_of_friends(
            emergency_id=emergency.id, viewer_id=actor.id
        )
    }
    seen = await presence.friends_last_seen(
        session,
        viewer_id=actor.id,
        area=emergency.area_geojson,
        since=emergencies.lookback_start(emergency),
    )
    people = sorted(set(reports) | set(seen))
    found = await accounts.accounts_by_ids(session, people)
    items = [_board_item(found[p].handle, p, reports.get(p), seen.get(p)) for p in people]
    items.sort(key=lambda i: (BOARD_ORDER[i.status], i.account.handle))
    return Board(items=items)


def _board_item(
    handle: str, account_id: int, report: ReportRow | None, seen: tuple[Any, CheckinRead] | None
) -> BoardItem:
    place: SafetyExactPlace | SafetyAreaPlace | ExactPlace | CellPlace | None = None
    if report is not None:
        place = place_view(report.lat, report.lon, exact=report.via_circle)
    if place is None and seen is not None:
        place = seen[1].place
    return BoardItem(
        account=CheckinAccount(id=str(account_id), handle=handle),
        status=report.status if report else "unknown",  # type: ignore[arg-type]
        reported_at=report.created_at if report else None,
        message=report.message if report else None,
        last_seen_at=seen[0].created_at if seen else None,
        place=place,
    )


async def status_counts(session: AsyncSession, emergency_id: int) -> dict[str, int]:
    return await SafetyRepository(session).status_counts(emergency_id)
