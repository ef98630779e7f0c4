"""Campaigns and ads as the API reads and writes them (GeoJSON in and out lives here)."""

from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from geo.core.types import (
    JSON_INT,
    IdStr,
    JsonFloat,
    Name,
    StoredPolygon,
    UserText,
    UtcDatetime,
)
from geo.places.schemas import AdRead, CategoryId, PlaceRead

__all__ = ["AdRead", "PlaceRead"]

MIN_RADIUS_M, MAX_RADIUS_M = 50, 20_000
MAX_POLYGON_VERTICES = 1000
MAX_HOLES = 20
# Budgets and bids are integer yen; these bounds keep every milli-yen sum far inside 2^53.
MAX_YEN = 1_000_000_000
MAX_BID_CPM = 1_000_000

Status = Literal["active", "paused", "ended"]
Hour = Annotated[int, Field(ge=0, le=23), JSON_INT]
Position = Annotated[
    list[Annotated[JsonFloat, Field(allow_inf_nan=False)]], Field(min_length=2, max_length=3)
]


def _valid_ring(ring: list[list[float]]) -> list[list[float]]:
    for lon, lat, *_ in ring:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError("positions are [lon, lat] with lon in [-180, 180], lat in [-90, 90]")
    if ring[0][:2] != ring[-1][:2]:
        raise ValueError("a linear ring must end where it starts")
    return ring


Ring = Annotated[
    list[Position],
    Field(min_length=4, max_length=MAX_POLYGON_VERTICES + 1),
    AfterValidator(_valid_ring),
]


def _vertex_budget(rings: list[list[list[float]]]) -> list[list[list[float]]]:
    if sum(len(r) - 1 for r in rings) > MAX_POLYGON_VERTICES:
        raise ValueError(f"at most {MAX_POLYGON_VERTICES} vertices in all")
    return rings


class GeoJSONPolygon(BaseModel):
    """A GeoJSON Polygon (RFC 7946: WGS 84 lon/lat, no `crs` member; edges straight in lon/lat)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["Polygon"]
    coordinates: Annotated[
        list[Ring], Field(min_length=1, max_length=MAX_HOLES + 1), AfterValidator(_vertex_budget)
    ]


class RadiusTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    radius_m: Annotated[
        int,
        Field(
            ge=MIN_RADIUS_M, le=MAX_RADIUS_M, description="Around the campaign's place, in metres."
        ),
        JSON_INT,
    ]


class AreaTarget(BaseModel):
    """A valid (simple) polygon covering at least the smallest radius target's circle and at most
    5,000 km2; PostGIS checks what a JSON Schema cannot (422 else)."""

    model_config = ConfigDict(extra="forbid")
    area: GeoJSONPolygon


def state_min_radius(openapi: dict[str, Any], min_target_m: int) -> dict[str, Any]:
    """Put the configured smallest radius (GEO_ADS_MIN_TARGET_RADIUS_M) into the document: the
    model's bound is the hard floor, the service refuses anything below the setting."""
    radius = openapi["components"]["schemas"]["RadiusTarget"]["properties"]["radius_m"]
    radius["minimum"] = max(MIN_RADIUS_M, min_target_m)
    return openapi


Target = RadiusTarget | AreaTarget
Yen = Annotated[int, Field(ge=0, le=MAX_YEN), JSON_INT]


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    total: Annotated[
        int, Field(ge=1, le=MAX_YEN, description="Integer yen over the campaign."), JSON_INT
    ]
    daily: Annotated[
        int,
        Field(
            ge=1, le=MAX_YEN, description="Integer yen per local day; at most `total` (422 else)."
        ),
        JSON_INT,
    ]


class FrequencyCap(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: Annotated[int, Field(ge=1, le=1000), JSON_INT]
    hours: Annotated[int, Field(ge=1, le=24 * 30), JSON_INT]


Headline = Annotated[UserText, Field(min_length=1, max_length=90)]
Body = Annotated[UserText, Field(max_length=300)]
# The service accepts what `zoneinfo` knows: the document lists those names.
TimeZone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_+\-/]+$",
        description="An IANA time zone; `hours` and `budget.daily` follow its local days.",
        json_schema_extra={"enum": sorted(available_timezones())},
    ),
]
Hours = Annotated[list[Hour], Field(min_length=1, max_length=24)]
Categories = Annotated[list[CategoryId], Field(min_length=1, max_length=20)]
BidCpm = Annotated[
    int, Field(ge=1, le=MAX_BID_CPM, description="Yen per 1000 impressions."), JSON_INT
]
HoldoutShare = Annotated[JsonFloat, Field(ge=0, le=0.5, allow_inf_nan=False)]


ENDS_AT = "After `starts_at`; on creation also in the future (422 else)."


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    place_id: IdStr
    name: Name
    headline: Headline
    body: Body = ""
    target: Target
    bid_cpm: BidCpm
    budget: Budget
    starts_at: AwareDatetime
    ends_at: Annotated[AwareDatetime, Field(description=ENDS_AT)]
    hours: Hours | None = None
    timezone: TimeZone = "Asia/Tokyo"
    categories: Categories | None = None
    frequency_cap: FrequencyCap
    status: Literal["active", "paused"] = "active"
    holdout_share: HoldoutShare = 0.05


# An omitted field is left as it is; an explicit null is refused (422), so the document offers none.
Unset = SkipJsonSchema[None]


class CampaignUpdate(BaseModel):
    """Any subset of the editable fields; `status` pauses, resumes or ends (ending is final)."""

    model_config = ConfigDict(extra="forbid")
    name: Name | Unset = None
    headline: Headline | Unset = None
    body: Body | Unset = None
    target: Target | Unset = None
    bid_cpm: BidCpm | Unset = None
    budget: Budget | Unset = None
    starts_at: AwareDatetime | Unset = None
    ends_at: Annotated[AwareDatetime, Field(description=ENDS_AT)] | Unset = None
    hours: Hours | Unset = None
    timezone: TimeZone | Unset = None
    categories: Categories | Unset = None
    frequency_cap: FrequencyCap | Unset = None
    status: Status | Unset = None
    holdout_share: HoldoutShare | Unset = None


class RadiusTargetRead(BaseModel):
    radius_m: int


class AreaTargetRead(BaseModel):
    area: StoredPolygon


# A campaign targets one or the other; the answer names only the one it has.
TargetRead = RadiusTargetRead | AreaTargetRead


class CampaignRead(BaseModel):
    id: IdStr
    place_id: IdStr
    name: str
    headline: str
    body: str
    target: TargetRead
    bid_cpm: int
    budget: Budget
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    hours: list[int] | None
    timezone: str
    categories: list[str] | None
    frequency_cap: FrequencyCap
    status: Status
    holdout_share: float
    created_at: UtcDatetime
    updated_at: UtcDatetime


class CampaignPage(BaseModel):
    items: list[CampaignRead]
    next: str | None
