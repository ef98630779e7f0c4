"""Report rules: who may see a campaign's report, and what it may say (see `privacy`)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from geo.ads import service as ads
from geo.core.auth import Actor
from geo.emergencies import areas as emergency_areas
from geo.places import service as places
from geo.reports import timerange
from geo.reports.bands import BANDS, band_label
from geo.reports.lift import lift_summary
from geo.reports.privacy import DifferencingGuard
from geo.reports.repository import CampaignRow, Cells, ReportRepository

TOTALS = (
    "impressions",
    "reach",
    "frequency",
    "clicks",
    "ctr",
    "spend",
    "spend_milli_yen",
    "visits",
    "visitors",
    "converters",
    "visit_rate",
)


@dataclass(frozen=True, slots=True)
class ReportParams:
    start: datetime | None
    end: datetime | None
    granularity: str
    k: int
    attribution_days: int


async def campaign_for(session: AsyncSession, *, actor: Actor, campaign_id: int) -> CampaignRow:
    """The campaign if `actor` owns it; 404 otherwise, exactly like a missing one (ads decides)."""
    data = await ads.get_campaign(session, actor=actor, campaign_id=campaign_id)
    place = await places.get_place(session, int(data["place_id"]))
    return CampaignRow(
        id=campaign_id,
        owner_id=actor.id,
        place_id=place.id,
        name=data["name"],
        timezone=data["timezone"],
        starts_at=_parse(data["starts_at"]),
        ends_at=_parse(data["ends_at"]),
        place_name=place.name,
        lat=place.lat,
        lon=place.lon,
        target_radius_m=data["target"].get("radius_m"),
        status=data["status"],
        budget_total=data["budget"]["total"],
    )


async def _pauses(
    session: AsyncSession, actor: Actor, campaign: CampaignRow, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    data = await ads.get_campaign(session, actor=actor, campaign_id=campaign.id)
    return await emergency_areas.pauses(
        session, target=data["target"], lat=campaign.lat, lon=campaign.lon, start=start, end=end
    )


def _parse(value: str | datetime) -> datetime:
    return (
        value
        if isinstance(value, datetime)
        else datetime.fromisoformat(value.replace("Z", "+00:00"))
    )


def _figures(cells: Cells | None, reach: int | None) -> dict[str, Any]:
    """A series point, band or total from its published cells (none: all withheld)."""
    if cells is None:
        names = ["impressions", "reach", "frequency", "clicks", "ctr", "spend", "spend_milli_yen"]
        return {**dict.fromkeys(names), "suppressed": True, "withheld": names}
    milli = cells.spend_milli_yen
    return {
        "impressions": cells.impressions,
        "clicks": cells.clicks,
        "ctr": round(cells.clicks / cells.impressions, 6),
        "spend": (milli + 500) // 1000,
        "spend_milli_yen": milli,
        "reach": reach,
        "frequency": round(cells.impressions / reach, 4) if reach else None,
        "suppressed": reach is None,
        "withheld": ["reach", "frequency"] if reach is None else [],
    }


def _reach(figures: dict[tuple[str, Any], Cells], key: tuple[str, Any]) -> int | None:
    cells = figures.get(key)
    return cells.reach if cells else None


async def build_report(
    session: AsyncSession,
    *,
    actor: Actor,
    campaign_id: int,
    params: ReportParams,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The campaign's report over a range, every figure under the k-floor withheld."""
    campaign = await campaign_for(session, actor=actor, campaign_id=campaign_id)
    now = now or datetime.now(UTC)
    start, end = timerange.snap_range(
        params.start or campaign.starts_at,
        params.end or now,
        now=now,
        granularity=params.granularity,
    )
    repo = ReportRepository(session)
    await repo.lock_releases(campaign.id)
    unit = params.granularity
    tz = campaign.timezone if unit == "day" else "UTC"
    figures = await repo.published_figures(campaign.id, start, end, unit=unit, tz=tz, k=params.k)
    metrics = [
        "reach",
        "visits",
        "visitors",
        "converters",
        "holdout_accounts",
        "holdout_converters",
        *(f"reach:band{b}" for b in BANDS),
    ]
    guard = DifferencingGuard(params.k, await repo.prior_releases(campaign.id, metrics, start, end))

    total_reach = _reach(figures, ("total", None))
    total_reach = total_reach if guard.allow("reach", start, end, total_reach) else None
    report = _figures(figures.get(("total", None)), total_reach)
    report["series"] = _series(figures, guard, start, end, unit, campaign.timezone)
    report["by_distance"] = _bands(figures, guard, start, end)
    report.update(await _attribution(repo, campaign, guard, start, end, params, total_reach))
    await repo.record_releases(campaign.id, guard.released)
    # Pauses run to the end asked for (or now), not the hour the figures are snapped to.
    report["pauses"] = await _pauses(session, actor, campaign, start, max(end, params.end or now))
    report["withheld"] = [name for name in TOTALS if report.get(name) is None]
    report["suppressed"] = bool(report["withheld"])
    report.update(
        campaign_id=str(campaign.id),
        start=start,
        end=end,
        granularity=unit,
        timezone=campaign.timezone,
        k=params.k,
        attribution_days=params.attribution_days,
    )
    return report


def _series(
    figures: dict[tuple[str, Any], Cells],
    guard: DifferencingGuard,
    start: datetime,
    end: datetime,
    unit: str,
    tz: str,
) -> list[dict[str, Any]]:
    points = []
    for bucket in timerange.buckets(start, end, granularity=unit, tz=tz):
        value = _reach(figures, ("bucket", bucket.key))
        allowed = value if guard.allow("reach", bucket.start, bucket.end, value) else None
        point = _figures(figures.get(("bucket", bucket.key)), allowed)
        points.append({**point, "start": bucket.start, "end": bucket.end})
    return points


def _bands(
    figures: dict[tuple[str, Any], Cells], guard: DifferencingGuard, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    rows = []
    for band in BANDS:
        value = _reach(figures, ("band", band))
        allowed = value if guard.allow(f"reach:band{band}", start, end, value) else None
        lower, upper = band_label(band)
        rows.append(
            {
                **_figures(figures.get(("band", band)), allowed),
                "band": band,
                "from_m": lower,
                "to_m": upper,
            }
        )
    return rows


async def _attribution(
    repo: ReportRepository,
    campaign: CampaignRow,
    guard: DifferencingGuard,
    start: datetime,
    end: datetime,
    params: ReportParams,
    exposed: int | None,
) -> dict[str, Any]:
    window = timedelta(days=params.attribution_days)

    def allow(metric: str, value: int) -> int | None:
        return value if guard.allow(metric, start, end, value) else None

    visits, visitors = await repo.visits(campaign, start, end, window)
    visitors_out = allow("visitors", visitors)
    visits_out = allow("visits", visits) if visitors_out is not None else None
    converters = allow(
        "converters", await repo.converters(campaign, start, end, window, holdout=False)
    )
    held_out = allow("holdout_accounts", await repo.holdout_accounts(campaign.id, start, end))
    held_out_visitors = allow(
        "holdout_converters", await repo.converters(campaign, start, end, window, holdout=True)
    )
    lift = lift_summary(
        exposed=exposed,
        exposed_visitors=converters,
        held_out=held_out,
        held_out_visitors=held_out_visitors,
    )
    return {
        "visits": visits_out,
        "visitors": visitors_out,
        "converters": converters,
        "visit_rate": lift["exposed"]["visit_rate"],
        "lift": lift,
    }


async def campaigns_of(session: AsyncSession, *, actor: Actor) -> list[dict[str, Any]]:
    """The actor's own campaigns, newest first, with their place names (the dashboard's list)."""
    items, _ = await ads.list_campaigns(session, actor=actor, limit=100, before=None)
    names = await places.places_by_ids(session, list({int(c["place_id"]) for c in items}))
    return [
        {
            **c,
            "place_name": names[int(c["place_id"])].name if int(c["place_id"]) in names else "",
            "starts_at": _parse(c["starts_at"]),
            "ends_at": _parse(c["ends_at"]),
        }
        for c in items
    ]


async def map_cells(
    session: AsyncSession, *, campaign: CampaignRow, start: datetime, end: datetime, k: int
) -> list[tuple[int, int]]:
    """H3 cells seen by at least k accounts with an intensity class 1..5 (no exact counts)."""
    cells = await ReportRepository(session).cells(campaign.id, start, end, k)
    if not cells:
        return []
    ranked = sorted(cells, key=lambda c: c[1])
    return [(cell, 1 + (5 * rank) // len(ranked)) for rank, (cell, _, _) in enumerate(ranked)]
