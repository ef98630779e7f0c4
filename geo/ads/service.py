"""Campaign rules: who may advertise a place, what a valid campaign is, and its read form.

The dashboard (reports) calls these functions; the HTTP routes in `api.py` are thin over them.
"""

import math
from datetime import UTC, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from geo.accounts import service as accounts
from geo.ads import budget
from geo.ads.repository import CampaignRepository, CampaignRow, area_json
from geo.ads.schemas import (
    AreaTargetRead,
    Budget,
    CampaignCreate,
    CampaignRead,
    CampaignUpdate,
    FrequencyCap,
    RadiusTargetRead,
    TargetRead,
)
from geo.core.auth import Actor
from geo.core.errors import Forbidden, NotFound, Unprocessable
from geo.core.redis import RedisClient
from geo.core.types import StoredPolygon
from geo.places import service as places

MAX_AREA_KM2 = 5_000.0  # about the Tokyo metropolis (2,194 km2) twice over
DEFAULT_MIN_TARGET_M = 500  # GEO_ADS_MIN_TARGET_RADIUS_M's default


def _bad(field: str, message: str) -> Unprocessable:
    return Unprocessable(
        f"Invalid campaign: {field} {message}.",
        errors=[{"field": f"body.{field}", "message": message}],
    )


async def may_advertise(session: AsyncSession, *, actor: Actor, place_id: int) -> bool:
    """A business may advertise the places it owns; an advertiser, those it was granted."""
    if actor.kind == "business":
        return await places.place_owner(session, place_id) == actor.id
    if actor.kind == "advertiser":
        return await CampaignRepository(session).is_granted(place_id, actor.id)
    return False


class AdvertisablePlace(NamedTuple):
    id: str  # as the API and the dashboard's form write ids
    name: str


async def advertisable_places(
    session: AsyncSession, *, actor: Actor, limit: int = 500
) -> list[AdvertisablePlace]:
    """The places the actor may advertise (owned by a business, granted to an advertiser)."""
    if actor.kind not in ("business", "advertiser"):
        return []
    rows = await CampaignRepository(session).advertisable_places(actor.id, limit)
    return [AdvertisablePlace(str(i), name) for i, name in rows]


async def create_campaign(
    session: AsyncSession,
    *,
    actor: Actor,
    data: CampaignCreate,
    min_target_m: int = DEFAULT_MIN_TARGET_M,
) -> CampaignRead:
    """Create a campaign for a place the actor may advertise.

    `min_target_m`: the smallest radius accepted (a polygon must cover at least that circle).

    Raises:
        Unprocessable: a field is invalid (each named in `errors`), or the place does not exist.
        Forbidden: the actor may not advertise this place.
    """
    place_id = int(data.place_id)
    try:
        await places.get_place(session, place_id)
    except NotFound:
        raise _bad("place_id", "no such place") from None
    if not await may_advertise(session, actor=actor, place_id=place_id):
        raise Forbidden(
            "You may not advertise this place: it must be yours (business) or "
            "granted to you by its owner (advertiser).",
            errors=[{"field": "body.place_id", "message": "not yours to advertise"}],
        )
    values = _values(data.model_dump(exclude_none=True))
    values |= {"owner_id": actor.id, "place_id": place_id}
    await _validate(session, values, creating=True, min_target_m=min_target_m)
    row = await CampaignRepository(session).insert(values)
    return campaign_read(row)


async def list_campaigns(
    session: AsyncSession, *, actor: Actor, limit: int, before: int | None
) -> list[CampaignRead]:
    """The actor's campaigns, newest first."""
    rows = await CampaignRepository(session).list_for_owner(actor.id, limit=limit, before=before)
    return [campaign_read(r) for r in rows]


async def get_campaign(session: AsyncSession, *, actor: Actor, campaign_id: int) -> CampaignRead:
    return campaign_read(await _owned(session, actor, campaign_id))


async def _owned(
    session: AsyncSession, actor: Actor, campaign_id: int, lock: bool = False
) -> CampaignRow:
    row = await CampaignRepository(session).by_id_for_owner(campaign_id, actor.id, lock=lock)
    if row is None:
        raise NotFound("No such campaign.")
    return row


async def update_campaign(
    session: AsyncSession,
    *,
    actor: Actor,
    campaign_id: int,
    data: CampaignUpdate,
    redis: RedisClient,
    min_target_m: int = DEFAULT_MIN_TARGET_M,
) -> CampaignRead:
    """Pause, resume, end or edit a campaign; the merged result is validated as a whole.

    A lowered budget or bid, a pause or an end also takes back the budget Redis holds unspent
    (under this edit's row lock), so nothing leased under the old terms is spent under the new
    ones. `redis` is required so that no caller (the API, the dashboard) can skip that.
    """
    row = await _owned(session, actor, campaign_id, lock=True)
    edit = data.model_dump(exclude_unset=True)
    if row.status == "ended" and edit:
        raise _bad("status", "an ended campaign cannot be changed")
    for name, value in edit.items():
        if value is None:
            raise _bad(name, "may not be null")
    values = _row_values(row) | _values(edit)
    # Only a target being set now must meet today's minimum; an untouched one stays valid.
    floor = min_target_m if "target" in edit else 0
    await _validate(session, values, creating=False, min_target_m=floor)
    updated = await CampaignRepository(session).update(campaign_id, values)
    if _tightened(row, updated):
        await budget.revoke_lease(session, redis, campaign_id=campaign_id)
    return campaign_read(updated)


def _tightened(before: CampaignRow, after: CampaignRow) -> bool:
    return (
        after.status != "active"
        or after.budget_total < before.budget_total
        or after.budget_daily < before.budget_daily
        or after.bid_cpm < before.bid_cpm
    )


def _values(fields: dict[str, Any]) -> dict[str, Any]:
    """API fields to column values."""
    values = {
        k: v
        for k, v in fields.items()
        if k not in ("target", "budget", "frequency_cap", "place_id")
    }
    if "target" in fields:
        target = fields["target"]
        values["target_radius_m"] = target.get("radius_m")
        values["target_area"] = area_json(target["area"]) if "area" in target else None
    if "budget" in fields:
        values["budget_total"] = fields["budget"]["total"]
        values["budget_daily"] = fields["budget"]["daily"]
    if "frequency_cap" in fields:
        values["cap_count"] = fields["frequency_cap"]["count"]
        values["cap_hours"] = fields["frequency_cap"]["hours"]
    if values.get("hours") is not None:
        values["hours"] = sorted(set(values["hours"]))
    if values.get("categories") is not None:
        values["categories"] = sorted(set(values["categories"]))
    return values


def _row_values(row: CampaignRow) -> dict[str, Any]:
    values = {
        name: getattr(row, name)
        for name in (
            "owner_id",
            "place_id",
            "name",
            "headline",
            "body",
            "target_radius_m",
            "target_area",
            "bid_cpm",
            "budget_total",
            "budget_daily",
            "starts_at",
            "ends_at",
            "hours",
            "timezone",
            "categories",
            "cap_count",
            "cap_hours",
            "status",
            "holdout_share",
        )
    }
    return values


async def _validate(
    session: AsyncSession, values: dict[str, Any], *, creating: bool, min_target_m: int
) -> None:
    errors: list[dict[str, str]] = []
    radius = values.get("target_radius_m")
    if radius is not None and radius < min_target_m:
        errors.append(
            {
                "field": "body.target.radius_m",
                "message": f"too small to be anonymous: at least {min_target_m} m",
            }
        )
    if values["ends_at"] <= values["starts_at"]:
        errors.append({"field": "body.ends_at", "message": "must be after starts_at"})
    elif creating and values["ends_at"] <= datetime.now(UTC):
        errors.append({"field": "body.ends_at", "message": "must be in the future"})
    if values["budget_daily"] > values["budget_total"]:
        errors.append({"field": "body.budget.daily", "message": "must not exceed budget.total"})
    try:
        ZoneInfo(values["timezone"])
    except (ZoneInfoNotFoundError, ValueError, OSError):
        errors.append({"field": "body.timezone", "message": "not an IANA time zone"})
    if values.get("categories"):
        tree = await places.category_tree(session)
        unknown = [c for c in values["categories"] if c not in tree.parent_of]
        if unknown:
            errors.append(
                {
                    "field": "body.categories",
                    "message": f"unknown categories: {', '.join(unknown[:5])}",
                }
            )
    if values.get("target_area") is not None:
        errors += await _area_errors(session, values["target_area"], min_target_m)
    if errors:
        raise Unprocessable("Invalid campaign.", errors=errors)


async def _area_errors(
    session: AsyncSession, geojson: str, min_target_m: int
) -> list[dict[str, str]]:
    check = await CampaignRepository(session).check_area(geojson)
    if not check.valid:
        return [{"field": "body.target.area", "message": f"invalid polygon: {check.reason}"}]
    if check.area_km2 > MAX_AREA_KM2:
        return [
            {
                "field": "body.target.area",
                "message": f"too large: {check.area_km2:.0f} km2 (max {MAX_AREA_KM2:.0f})",
            }
        ]
    if check.area_km2 <= 0:
        return [{"field": "body.target.area", "message": "has no area"}]
    least_km2 = math.pi * (min_target_m / 1000) ** 2
    if check.area_km2 < least_km2:
        message = (
            f"too small to be anonymous: {check.area_km2:.3f} km2, at least {least_km2:.3f} km2 "
            f"(a {min_target_m} m circle)"
        )
        return [{"field": "body.target.area", "message": message}]
    return []


def campaign_read(row: CampaignRow) -> CampaignRead:
    """The API's form of a campaign row."""
    target: TargetRead
    if row.target_radius_m is not None:
        target = RadiusTargetRead(radius_m=row.target_radius_m)
    else:
        target = AreaTargetRead(area=StoredPolygon.model_validate_json(row.target_area or "null"))
    return CampaignRead(
        id=str(row.id),
        place_id=str(row.place_id),
        name=row.name,
        headline=row.headline,
        body=row.body,
        target=target,
        bid_cpm=row.bid_cpm,
        budget=Budget(total=row.budget_total, daily=row.budget_daily),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        hours=row.hours,
        timezone=row.timezone,
        categories=row.categories,
        frequency_cap=FrequencyCap(count=row.cap_count, hours=row.cap_hours),
        status=row.status,  # type: ignore[arg-type]  # the column's CHECK holds the Literal's values
        holdout_share=round(float(row.holdout_share), 4),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def budget_left(
    session: AsyncSession, redis: RedisClient, *, campaign_id: int
) -> budget.BudgetLeft:
    """Yen left of a campaign's total budget and of today's (in its time zone), and milli-yen
    spent in total and today.

    Spend is what PostgreSQL leased to Redis minus what Redis still holds unspent today, so after
    a Redis loss it counts the lost lease as spent (conservative, like the serving side).
    """
    row = await CampaignRepository(session).by_id(campaign_id)
    if row is None:
        raise NotFound("No such campaign.")
    return await budget.budget_left(
        session, redis, campaign_id=campaign_id, tz=ZoneInfo(row.timezone), now=datetime.now(UTC)
    )


async def grant_advertiser(
    session: AsyncSession,
    *,
    actor: Actor,
    place_id: int,
    advertiser_id: int,
    granted: bool,
    redis: RedisClient | None = None,
) -> None:
    """The owner of a place lets an advertiser account run campaigns for it (or stops it).

    Stopping bites at once: the advertiser's campaigns at the place are paused under their row
    locks and, with `redis`, the budget Redis holds for them is handed back to PostgreSQL (as a
    pause through the API does); from then on they and their reports answer 404 to it.
    """
    await places.get_place(session, place_id)
    if await places.place_owner(session, place_id) != actor.id:
        raise Forbidden("Only the place's owner may grant advertisers.")
    repo = CampaignRepository(session)
    if granted:
        if (await accounts.get_account(session, advertiser_id)).kind != "advertiser":
            raise NotFound("No such advertiser account.")
        await repo.grant(place_id, advertiser_id)
    else:
        await repo.revoke(place_id, advertiser_id)
        for campaign_id in await repo.pause_at_place(place_id, advertiser_id):
            if redis is not None:
                await budget.revoke_lease(session, redis, campaign_id=campaign_id)
