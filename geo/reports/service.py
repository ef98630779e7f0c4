"""Report rules: who may see a campaign's report, and what it may say (see `noise`, `access`)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from geo.ads import service as ads
from geo.core.auth import Actor
from geo.emergencies import areas as emergency_areas
from geo.emergencies.schemas import AdsPause
from geo.places import service as places
from geo.reports import access, timerange
from geo.reports.bands import BANDS, band_label
from geo.reports.lift import lift_summary
from geo.reports.noise import Noise, events_sensitivity, figure_key
from geo.reports.repository import CampaignRow, Cells, ReportRepository
from geo.reports.schemas import (
    BudgetAsOf,
    CampaignListing,
    DistanceBand,
    Figures,
    Granularity,
    Lift,
    Report,
    SeriesPoint,
)


@dataclass(frozen=True, slots=True)
class ReportParams:
    start: datetime | None
    end: datetime | None
    granularity: Granularity
    k: int
    attribution_days: int
    secret: str  # seeds the noise (GEO_SECRET_KEY)
    epsilon: float  # per released figure
    epsilon_per_day: float  # the campaign's data access budget per UTC day


async def campaign_for(session: AsyncSession, *, actor: Actor, campaign_id: int) -> CampaignRow:
    """The campaign if `actor` owns it; 404 otherwise, exactly like a missing one (ads decides)."""
    campaign = await ads.get_campaign(session, actor=actor, campaign_id=campaign_id)
    place = await places.get_place(session, int(campaign.place_id))
    return CampaignRow(
        id=campaign_id,
        owner_id=actor.id,
        place_id=place.id,
        name=campaign.name,
        timezone=campaign.timezone,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        place_name=place.name,
        lat=place.lat,
        lon=place.lon,
        target_radius_m=getattr(campaign.target, "radius_m", None),
        status=campaign.status,
        budget_total=campaign.budget.total,
        budget_daily=campaign.budget.daily,
        cap_count=campaign.frequency_cap.count,
        cap_hours=campaign.frequency_cap.hours,
    )


async def _pauses(
    session: AsyncSession, actor: Actor, campaign: CampaignRow, start: datetime, end: datetime
) -> list[AdsPause]:
    data = await ads.get_campaign(session, actor=actor, campaign_id=campaign.id)
    return await emergency_areas.pauses(
        session,
        target=data.target.model_dump(mode="json"),
        lat=campaign.lat,
        lon=campaign.lon,
        start=start,
        end=end,
    )


# A report's figures, in the order `withheld` names them: the ledger's, then attribution's.
WITHHELD = ("impressions", "reach", "frequency", "clicks", "ctr", "spend", "spend_milli_yen")
ATTRIBUTED = ("visits", "visitors", "converters", "visit_rate")
# Visits count events, so one person could add many: each counts at most this many per range.
VISITS_CLIP = 5


@dataclass
class Release:
    """One report's releases: every count noised once (by figure), the floor on noisy values."""

    noise: Noise
    campaign: CampaignRow
    cells: dict[tuple[str, Any], Cells]
    clickers: dict[tuple[str, Any], int]

    def figures(self, key: tuple[str, Any], name: str, start: datetime, end: datetime) -> Figures:
        """A series point, band or total from its published cells (none: all withheld)."""
        cells = self.cells.get(key)
        if cells is None:
            return Figures(suppressed=True, withheld=list(WITHHELD))
        events = events_sensitivity(self.campaign.cap_count, self.campaign.cap_hours, start, end)
        release = self.noise.release
        impressions = release(f"impressions{name}", start, end, cells.impressions, events)
        reach = release(f"reach{name}", start, end, cells.reach)
        # Clicks and CTR need k distinct clickers (noisy too), not only k clicks.
        clickers = release(f"clickers{name}", start, end, self.clickers.get(key, 0))
        clicks = (
            self.noise.noisy_spent(f"clicks{name}", start, end, cells.clicks, events)
            if clickers is not None
            else None
        )
        milli = cells.spend_milli_yen  # money, billed exactly (see README: what is released)
        frequency = round(impressions / reach, 4) if impressions and reach else None
        ctr = round(clicks / impressions, 6) if clicks is not None and impressions else None
        spend = (milli + 500) // 1000
        released = (impressions, reach, frequency, clicks, ctr, spend, milli)
        withheld = [n for n, value in zip(WITHHELD, released, strict=True) if value is None]
        return Figures(
            impressions=impressions,
            reach=reach,
            frequency=frequency,
            clicks=clicks,
            ctr=ctr,
            spend=spend,
            spend_milli_yen=milli,
            suppressed=bool(withheld),
            withheld=withheld,
        )


@dataclass(frozen=True, slots=True)
class Attribution:
    """Visits after exposure, and the lift over the held-out accounts."""

    visits: int | None
    visitors: int | None
    converters: int | None
    visit_rate: float | None
    lift: Lift

    def withheld(self) -> list[str]:
        released = (self.visits, self.visitors, self.converters, self.visit_rate)
        return [n for n, value in zip(ATTRIBUTED, released, strict=True) if value is None]


async def build_report(
    session: AsyncSession,
    *,
    actor: Actor,
    campaign_id: int,
    params: ReportParams,
    now: datetime | None = None,
) -> Report:
    """The campaign's report over a range: every count noised, those under the k-floor withheld,
    the campaign's data access budget charged for figures not released before (429 past it)."""
    campaign = await campaign_for(session, actor=actor, campaign_id=campaign_id)
    now = now or datetime.now(UTC)
    start, end = timerange.snap_range(
        params.start or campaign.starts_at,
        params.end or now,
        now=now,
        granularity=params.granularity,
    )
    repo = ReportRepository(session)
    await repo.lock_access(campaign.owner_id)
    noise = Noise(params.secret, campaign.id, params.epsilon, params.k)
    unit = params.granularity
    tz = campaign.timezone if unit == "day" else "UTC"
    published = [
        (hour, band)
        for hour, band, accounts in await repo.cell_accounts(campaign.id, start, end)
        if noise.passes(cell_key(hour, band), accounts)
    ]
    release = Release(
        noise,
        campaign,
        await repo.published_figures(
            campaign.id, start, end, unit=unit, tz=tz, published=published
        ),
        await repo.clickers(campaign.id, start, end, unit=unit, tz=tz),
    )
    totals = release.figures(("total", None), "", start, end)
    series = [
        SeriesPoint(
            **release.figures(("bucket", b.key), "", b.start, b.end).model_dump(),
            start=b.start,
            end=b.end,
        )
        for b in timerange.buckets(start, end, granularity=unit, tz=campaign.timezone)
    ]
    by_distance = [_band(release, band, start, end) for band in BANDS]
    attribution = await _attribution(repo, campaign, noise, start, end, params, totals.reach)
    await access.charge(repo, campaign, noise.released, per_day=params.epsilon_per_day, now=now)
    # Pauses run to the end asked for (or now), not the hour the figures are snapped to.
    pauses = await _pauses(session, actor, campaign, start, max(end, params.end or now))
    withheld = [*totals.withheld, *attribution.withheld()]
    return Report(
        **totals.model_dump(exclude={"suppressed", "withheld"}),
        visits=attribution.visits,
        visitors=attribution.visitors,
        converters=attribution.converters,
        visit_rate=attribution.visit_rate,
        suppressed=bool(withheld),
        withheld=withheld,
        campaign_id=str(campaign.id),
        start=start,
        end=end,
        granularity=unit,
        timezone=campaign.timezone,
        k=params.k,
        epsilon=params.epsilon,
        attribution_days=params.attribution_days,
        series=series,
        by_distance=by_distance,
        lift=attribution.lift,
        budget=await _budget_of(session, campaign, now),
        pauses=pauses,
    )


def cell_key(hour: datetime, band: int) -> str:
    return figure_key(f"cell:band{band}", hour, hour + timedelta(hours=1))


def _band(release: Release, band: int, start: datetime, end: datetime) -> DistanceBand:
    lower, upper = band_label(band)
    figures = release.figures(("band", band), f":band{band}", start, end)
    return DistanceBand(**figures.model_dump(), band=band, from_m=lower, to_m=upper)


async def _attribution(
    repo: ReportRepository,
    campaign: CampaignRow,
    noise: Noise,
    start: datetime,
    end: datetime,
    params: ReportParams,
    exposed: int | None,
) -> Attribution:
    window = timedelta(days=params.attribution_days)
    async with repo.generic_plans():
        visits, visitors = await repo.visits(campaign, start, end, window, clip=VISITS_CLIP)
        exposed_visitors = await repo.converters(campaign, start, end, window, holdout=False)
        held_out_converters = await repo.converters(campaign, start, end, window, holdout=True)
    visitors_out = noise.release("visitors", start, end, visitors)
    visits_out = noise.release("visits", start, end, visits, VISITS_CLIP)
    if visitors_out is None:  # visits are about the visitors: fewer than k of them, no visits
        visits_out = None
    converters = noise.release("converters", start, end, exposed_visitors)
    held_out = noise.release(
        "holdout_accounts", start, end, await repo.holdout_accounts(campaign.id, start, end)
    )
    held_out_visitors = noise.release("holdout_converters", start, end, held_out_converters)
    lift = lift_summary(
        exposed=exposed,
        exposed_visitors=converters,
        held_out=held_out,
        held_out_visitors=held_out_visitors,
    )
    return Attribution(
        visits=visits_out,
        visitors=visitors_out,
        converters=converters,
        visit_rate=lift.exposed.visit_rate,
        lift=lift,
    )


async def campaigns_of(session: AsyncSession, *, actor: Actor) -> list[CampaignListing]:
    """The actor's own campaigns, newest first, with their place names (the dashboard's list)."""
    items = await ads.list_campaigns(session, actor=actor, limit=100, before=None)
    names = await places.places_by_ids(session, list({int(c.place_id) for c in items}))
    return [
        CampaignListing(
            **dict(c),
            place_name=names[int(c.place_id)].name if int(c.place_id) in names else "",
        )
        for c in items
    ]


async def map_cells(
    session: AsyncSession,
    *,
    campaign: CampaignRow,
    start: datetime,
    end: datetime,
    params: ReportParams,
    now: datetime | None = None,
) -> list[tuple[int, int]]:
    """H3 cells over the floor with an intensity class 1..5 (no counts). Each hexagon's accounts
    are noised like any figure and its decision costs from the data access budget once."""
    repo = ReportRepository(session)
    await repo.lock_access(campaign.owner_id)
    noise = Noise(params.secret, campaign.id, params.epsilon, params.k)
    cells = [
        (cell, impressions)
        for cell, impressions, accounts in await repo.cells(campaign.id, start, end)
        if noise.release(f"hex:{cell}", start, end, accounts) is not None
    ]
    now = now or datetime.now(UTC)
    await access.charge(repo, campaign, noise.released, per_day=params.epsilon_per_day, now=now)
    if not cells:
        return []
    ranked = sorted(cells, key=lambda c: c[1])
    return [(cell, 1 + (5 * rank) // len(ranked)) for rank, (cell, _) in enumerate(ranked)]


async def budget_as_of_hour(
    session: AsyncSession, *, actor: Actor, campaign_id: int, now: datetime | None = None
) -> BudgetAsOf:
    """Spend and budget left as of the last finished hour (owner only, 404 otherwise).

    The engine's exact state (the Redis lease, which moves with every impression) stays
    internal: read every few seconds it would tell the advertiser each time someone entered the
    target. Whole finished hours are what the reports show too.
    """
    campaign = await campaign_for(session, actor=actor, campaign_id=campaign_id)
    return await _budget_of(session, campaign, now or datetime.now(UTC))


async def _budget_of(session: AsyncSession, campaign: CampaignRow, now: datetime) -> BudgetAsOf:
    as_of = timerange.floor_hour(now)
    zone = ZoneInfo(campaign.timezone)
    # "Today" is the local day of the last finished hour (the hour that ended at `as_of`).
    last = (as_of - timedelta(hours=1)).astimezone(zone)
    day_start = datetime(last.year, last.month, last.day, tzinfo=zone)
    spend = await ReportRepository(session).spend_before(
        campaign.id, day_start.astimezone(UTC), as_of
    )
    total_left = campaign.budget_total * 1000 - spend.total_milli_yen
    today_left = min(total_left, campaign.budget_daily * 1000 - spend.today_milli_yen)
    return BudgetAsOf(
        as_of=as_of,
        spent_total_milli_yen=spend.total_milli_yen,
        spent_today_milli_yen=spend.today_milli_yen,
        total_left_yen=max(0, total_left) // 1000,
        today_left_yen=max(0, today_left) // 1000,
    )
