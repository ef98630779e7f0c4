"""Emergency rules: who may declare one, what a valid area is, when one is active."""

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from geo.core.auth import Actor
from geo.core.errors import Forbidden, NotFound, Unprocessable
from geo.core.types import StoredPolygon
from geo.emergencies.repository import EmergencyRepository, EmergencyRow
from geo.emergencies.schemas import (
    MAX_AREA_KM2,
    Circle,
    EmergencyCreate,
    EmergencyFeature,
    EmergencyProperties,
    EmergencyRead,
    EmergencyUpdate,
)
from geo.outbox import events as outbox

OPERATOR = "operator"


def is_active(row: EmergencyRow, now: datetime | None = None) -> bool:
    return row.ends_at is None or row.ends_at > (now or datetime.now(UTC))


def lookback_start(row: EmergencyRow) -> datetime:
    """Check-ins since then count as "last seen in the area"."""
    return row.starts_at - timedelta(hours=row.lookback_hours)


def emergency_read(row: EmergencyRow) -> EmergencyRead:
    """The API's form of an emergency row."""
    return EmergencyRead(
        id=str(row.id),
        name=row.name,
        area=StoredPolygon.model_validate_json(row.area_geojson),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        status="active" if is_active(row) else "ended",
        lookback_hours=row.lookback_hours,
    )


def emergency_feature(row: EmergencyRow) -> EmergencyFeature:
    """One emergency as a GeoJSON Feature (RFC 7946)."""
    read = emergency_read(row)
    return EmergencyFeature(
        type="Feature",
        id=read.id,
        geometry=read.area,
        properties=EmergencyProperties(
            id=read.id,
            name=read.name,
            starts_at=read.starts_at,
            ends_at=read.ends_at,
            status=read.status,
            lookback_hours=read.lookback_hours,
        ),
    )


def _require_operator(actor: Actor) -> None:
    if actor.kind != OPERATOR:
        raise Forbidden("Only an operator may declare or change an emergency.")


async def _checked_area(repo: EmergencyRepository, area: Any) -> str:
    if isinstance(area, Circle):
        return await repo.circle_geojson(lat=area.lat, lon=area.lon, radius_m=area.radius_m)
    geojson = orjson.dumps(area.model_dump()).decode()
    check = await repo.check_area(geojson)
    message = None
    if not check.valid:
        message = f"invalid polygon: {check.reason}"
    elif check.area_km2 > MAX_AREA_KM2:
        message = f"too large: {check.area_km2:.0f} km2 (max {MAX_AREA_KM2:.0f})"
    elif check.area_km2 <= 0:
        message = "has no area"
    if message:
        raise Unprocessable("Invalid area.", errors=[{"field": "body.area", "message": message}])
    return geojson


def _utc(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Unprocessable(
            "Times carry a zone.", errors=[{"field": field, "message": "needs a time zone (Z)"}]
        )
    return value


async def declare(session: AsyncSession, *, actor: Actor, data: EmergencyCreate) -> EmergencyRead:
    """Declare an emergency; people last seen inside are alerted after the commit (outbox)."""
    _require_operator(actor)
    starts_at = _utc(data.starts_at, "body.starts_at")
    ends_at = _utc(data.ends_at, "body.ends_at")
    if ends_at is not None and ends_at <= (starts_at or datetime.now(UTC)):
        raise Unprocessable(
            "The end is before the start.",
            errors=[{"field": "body.ends_at", "message": "must be after starts_at (and now)"}],
        )
    repo = EmergencyRepository(session)
    row = await repo.insert(
        name=data.name,
        geojson=await _checked_area(repo, data.area),
        declared_by=actor.id,
        starts_at=starts_at,
        ends_at=ends_at,
        lookback_hours=data.lookback_hours,
    )
    await outbox.record_emergency(session, topic=outbox.EMERGENCY_DECLARED, emergency_id=row.id)
    return emergency_read(row)


async def get_row(session: AsyncSession, emergency_id: int) -> EmergencyRow:
    row = await EmergencyRepository(session).by_id(emergency_id)
    if row is None:
        raise NotFound("No such emergency.")
    return row


async def active_row(session: AsyncSession, emergency_id: int) -> EmergencyRow:
    """The emergency while it is active; an ended one is a 404, like a missing one."""
    row = await get_row(session, emergency_id)
    if not is_active(row):
        raise NotFound("No such emergency.")
    return row


async def list_rows(
    session: AsyncSession, *, active: bool, limit: int, before: int | None
) -> list[EmergencyRow]:
    return await EmergencyRepository(session).page(active=active, limit=limit, before=before)


async def update(
    session: AsyncSession, *, actor: Actor, emergency_id: int, data: EmergencyUpdate
) -> EmergencyRead:
    """End an emergency now, or move its end (an end in the past ends it now)."""
    _require_operator(actor)
    ends_at = _utc(data.ends_at, "body.ends_at")
    if ends_at is not None and ends_at < datetime.now(UTC):
        ends_at = None
    row = await EmergencyRepository(session).set_end(emergency_id, ends_at)
    if row is None:
        raise NotFound("No such emergency.")
    await outbox.record_emergency(session, topic=outbox.EMERGENCY_CHANGED, emergency_id=row.id)
    return emergency_read(row)


async def covers(
    session: AsyncSession, row: EmergencyRow, *, lat: float, lon: float, accuracy_m: float
) -> bool:
    return await EmergencyRepository(session).covers(
        row.id, lat=lat, lon=lon, tolerance_m=accuracy_m
    )


async def not_ended(session: AsyncSession) -> list[EmergencyRow]:
    return await EmergencyRepository(session).not_ended()
