"""Report documents. A withheld figure is `null` and its holder says `suppressed: true`."""

from typing import Literal

from pydantic import BaseModel, Field

from geo.ads.schemas import CampaignRead
from geo.core.types import UtcDatetime
from geo.emergencies.schemas import AdsPause

Granularity = Literal["hour", "day"]


class Figures(BaseModel):
    impressions: int | None = None
    reach: int | None = Field(default=None, description="Unique accounts shown the ad.")
    frequency: float | None = None
    clicks: int | None = None
    ctr: float | None = None
    spend: int | None = Field(default=None, description="Yen, rounded to the nearest yen.")
    spend_milli_yen: int | None = None
    suppressed: bool = Field(False, description="True when any figure here is withheld.")
    withheld: list[str] = Field(default_factory=list, description="The withheld figures.")


class SeriesPoint(Figures):
    start: UtcDatetime
    end: UtcDatetime


class DistanceBand(Figures):
    band: int
    from_m: int
    to_m: int | None = Field(default=None, description="Null for the open last band.")


class LiftGroup(BaseModel):
    accounts: int | None
    visitors: int | None
    visit_rate: float | None
    suppressed: bool


Verdict = Literal["positive", "negative", "inconclusive", "too_small"]


class Lift(BaseModel):
    exposed: LiftGroup
    holdout: LiftGroup
    lift: float | None = Field(
        default=None, description="Relative lift of the visit rate, 0.1 = +10%."
    )
    ci95: list[float] | None = None
    verdict: Verdict
    reason: str | None = None


class BudgetAsOf(BaseModel):
    """Money as of the last finished hour (the engine's live state is never shown)."""

    as_of: UtcDatetime = Field(description="The end of the last finished hour.")
    spent_total_milli_yen: int
    spent_today_milli_yen: int = Field(description="In the campaign's local day of that hour.")
    total_left_yen: int
    today_left_yen: int


class Report(Figures):
    campaign_id: str
    start: UtcDatetime = Field(description="The range actually reported (snapped to hours).")
    end: UtcDatetime
    granularity: Granularity
    timezone: str
    k: int = Field(description="Figures over fewer than k unique accounts are withheld.")
    epsilon: float = Field(description="The noise's epsilon per figure (differential privacy).")
    attribution_days: int
    visits: int | None = None
    visitors: int | None = None
    converters: int | None = None
    visit_rate: float | None = None
    series: list[SeriesPoint]
    by_distance: list[DistanceBand]
    lift: Lift
    budget: BudgetAsOf
    pauses: list[AdsPause] = Field(
        [], description="When ads stood down in part of the target for an emergency."
    )


class CampaignListing(CampaignRead):
    """A campaign in the dashboard's list, with its place's name."""

    place_name: str
