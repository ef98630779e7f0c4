"""Buying without the API: the campaign form, pause/resume and budget left.

Everything goes through the ads service (the same calls as the API's, Redis included, so a pause
here hands back the budget lease as one through the API does); this module writes no SQL.
"""

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from geo.ads import service as ads
from geo.ads.schemas import CampaignCreate, CampaignRead, CampaignUpdate
from geo.core.auth import Actor
from geo.core.errors import Forbidden, Unprocessable
from geo.core.redis import RedisClient

FORM_FIELDS = (
    "place_id",
    "name",
    "headline",
    "body",
    "radius_m",
    "bid_cpm",
    "budget_total",
    "budget_daily",
    "starts_at",
    "ends_at",
    "hours",
    "cap_count",
    "cap_hours",
)
# Where an error about a contract field is shown on the form.
FIELD_OF = {
    "target": "radius_m",
    "radius_m": "radius_m",
    "budget": "budget_total",
    "total": "budget_total",
    "daily": "budget_daily",
    "frequency_cap": "cap_count",
    "count": "cap_count",
    "hours": "hours",
}


def campaign_body(form: dict[str, str]) -> dict[str, Any]:
    """The contract's campaign document from the form's flat fields (the ads schema validates)."""
    hours = [h.strip() for h in form.get("hours", "").split(",") if h.strip()]
    return {
        "place_id": form.get("place_id", ""),
        "name": form.get("name", ""),
        "headline": form.get("headline", ""),
        "body": form.get("body", ""),
        "target": {"radius_m": _number(form.get("radius_m"))},
        "bid_cpm": _number(form.get("bid_cpm")),
        "budget": {
            "total": _number(form.get("budget_total")),
            "daily": _number(form.get("budget_daily")),
        },
        "starts_at": _local(form.get("starts_at")),
        "ends_at": _local(form.get("ends_at")),
        "hours": [_number(h) for h in hours] or None,
        "frequency_cap": {
            "count": _number(form.get("cap_count")),
            "hours": _number(form.get("cap_hours")),
        },
    }


def _number(text: str | None) -> int | str | None:
    """A form's text as the JSON number the API takes (its bodies refuse numbers in strings);
    text that is no integer stays text, for the schema to refuse under the field's name."""
    if not text or not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        return text


def _local(value: str | None) -> str | None:
    """`datetime-local` inputs carry no zone: they are read as Japan time, like the campaigns."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.isoformat() if moment.tzinfo else moment.isoformat() + "+09:00"


def field_errors(errors: list[dict[str, Any]]) -> dict[str, str]:
    """Map `body.budget.total`-style error locations onto the form's field names."""
    out: dict[str, str] = {}
    for error in errors:
        parts = [p for p in str(error.get("field", "")).split(".") if p not in ("body", "")]
        name = next(
            (FIELD_OF.get(p, p) for p in reversed(parts) if FIELD_OF.get(p, p) in FORM_FIELDS),
            "form",
        )
        out.setdefault(name, str(error.get("message", "invalid")))
    return out


async def places_for(session: AsyncSession, *, actor: Actor) -> list[ads.AdvertisablePlace]:
    """The places the form offers: those the actor may advertise, by name."""
    return await ads.advertisable_places(session, actor=actor)


async def create(
    session: AsyncSession, *, actor: Actor, form: dict[str, str], min_target_m: int
) -> tuple[CampaignRead | None, dict[str, str]]:
    """(the campaign, {}) or (None, {field: message})."""
    try:
        data = CampaignCreate.model_validate(campaign_body(form))
        campaign = await ads.create_campaign(
            session, actor=actor, data=data, min_target_m=min_target_m
        )
        return campaign, {}
    except ValidationError as exc:
        return None, field_errors(
            [
                {"field": ".".join(str(p) for p in e["loc"]), "message": _friendly(e)}
                for e in exc.errors()
            ]
        )
    except (Unprocessable, Forbidden) as exc:
        return None, field_errors(
            exc.extra.get("errors") or [{"field": "form", "message": exc.detail}]
        )


def _friendly(error: Any) -> str:
    """Pydantic's words for an empty field are about types; a person left something blank."""
    if error["type"] in ("missing", "string_too_short", "too_short") or (
        error["type"].endswith("_type") and error.get("input") in (None, "")
    ):
        return "Required."
    return str(error["msg"])


async def set_status(
    session: AsyncSession, redis: RedisClient, *, actor: Actor, campaign_id: int, status: str
) -> None:
    await ads.update_campaign(
        session,
        actor=actor,
        redis=redis,
        campaign_id=campaign_id,
        data=CampaignUpdate.model_validate({"status": status}),
    )
