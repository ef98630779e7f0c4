"""Emergencies and safety reports in and out (GeoJSON in and out lives here)."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from geo.checkins.schemas import Audience, CheckinAccount, CheckinPlace
from geo.core.types import (
    JSON_INT,
    IdStr,
    JsonFloat,
    Latitude,
    Longitude,
    Name,
    StoredPolygon,
    UserText,
    UtcDatetime,
)

MAX_VERTICES = 1000  # all rings together; a disaster area is drawn, not traced from a coastline
MAX_AREA_KM2 = 50_000.0  # larger than any prefecture: beyond that it is a mistake
MIN_RADIUS_M, MAX_RADIUS_M = 100, 100_000
MAX_MESSAGE = 500

Position = Annotated[list[JsonFloat], Field(min_length=2, max_length=2)]


def _closed_ring(ring: list[Position]) -> list[Position]:
    if ring[0] != ring[-1]:
        raise ValueError("a ring must end where it starts")
    for lon, lat in ring:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError("positions are [lon, lat] in WGS 84")
    return ring


Ring = Annotated[list[Position], Field(min_length=4), AfterValidator(_closed_ring)]


def _vertex_budget(rings: list[list[Position]]) -> list[list[Position]]:
    if sum(len(r) - 1 for r in rings) > MAX_VERTICES:
        raise ValueError(f"at most {MAX_VERTICES} vertices in all")
    return rings


class GeoJSONPolygon(BaseModel):
    """A GeoJSON Polygon (RFC 7946: WGS 84 [lon, lat]; the first ring is the outline)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["Polygon"]
    coordinates: Annotated[
        list[Ring], Field(min_length=1, max_length=20), AfterValidator(_vertex_budget)
    ]


class Circle(BaseModel):
    """A point and a radius, turned into a polygon on the server."""

    model_config = ConfigDict(extra="forbid")
    lat: Latitude
    lon: Longitude
    radius_m: Annotated[JsonFloat, Field(ge=MIN_RADIUS_M, le=MAX_RADIUS_M, allow_inf_nan=False)]


def _sane_year(value: datetime | None) -> datetime | None:
    if value is not None and not 2000 <= value.year <= 2200:
        raise ValueError("must be between the years 2000 and 2200")
    return value


Moment = Annotated[datetime | None, AfterValidator(_sane_year)]


class EmergencyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    area: GeoJSONPolygon | Circle
    starts_at: Moment = None
    ends_at: Moment = None
    lookback_hours: Annotated[int, Field(ge=1, le=720), JSON_INT] = 72


class EmergencyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ends_at: Moment = None
    status: Literal["ended"] | None = None

    @model_validator(mode="after")
    def _one_change(self) -> "EmergencyUpdate":
        if (self.ends_at is None) == (self.status is None):
            raise ValueError("give either ends_at or status: ended")
        return self


class EmergencyRead(BaseModel):
    id: IdStr
    name: str
    area: StoredPolygon
    starts_at: UtcDatetime
    ends_at: UtcDatetime | None
    status: Literal["active", "ended"]
    lookback_hours: int


class EmergencyProperties(BaseModel):
    """An emergency's members other than its area, as a GeoJSON Feature's properties."""

    id: IdStr
    name: str
    starts_at: UtcDatetime
    ends_at: UtcDatetime | None
    status: Literal["active", "ended"]
    lookback_hours: int


class EmergencyFeature(BaseModel):
    """An emergency as a GeoJSON Feature (RFC 7946): its area is the geometry."""

    type: Literal["Feature"]
    id: IdStr
    geometry: StoredPolygon
    properties: EmergencyProperties


class EmergencyFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[EmergencyFeature]
    next: str | None


class EmergencyPage(BaseModel):
    items: list[EmergencyRead]
    next: str | None


class SafetyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["safe", "need_help"]
    message: Annotated[UserText, Field(max_length=MAX_MESSAGE)] | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    accuracy_m: Annotated[JsonFloat, Field(gt=0, le=100_000, allow_inf_nan=False)] | None = None
    audience: Audience | None = Field(
        None, description="Default: all of the author's friends, not public."
    )

    @model_validator(mode="after")
    def _whole_position(self) -> "SafetyCreate":
        given = [v is not None for v in (self.lat, self.lon, self.accuracy_m)]
        if any(given) and not all(given):
            raise ValueError("lat, lon and accuracy_m go together")
        return self


class SafetyExactPlace(BaseModel):
    """Where the author reported from, for the private audience."""

    precision: Literal["exact"]
    lat: float
    lon: float


class SafetyAreaPlace(BaseModel):
    """Only the area cell the author reported from (its centre), for the public."""

    precision: Literal["area"]
    cell: str = Field(description="H3 cell, resolution 7.")
    lat: float
    lon: float


# Where the author reported from, at the precision this viewer may see.
SafetyPlace = Annotated[SafetyExactPlace | SafetyAreaPlace, Field(discriminator="precision")]


class SafetyRead(BaseModel):
    id: IdStr
    kind: Literal["safety"]
    emergency_id: IdStr
    account: CheckinAccount
    status: Literal["safe", "need_help"]
    message: str | None
    created_at: UtcDatetime
    audience: Literal["circle", "public"]
    place: SafetyPlace | None = None


class BoardItem(BaseModel):
    account: CheckinAccount
    status: Literal["safe", "need_help", "unknown"]
    reported_at: UtcDatetime | None
    message: str | None
    last_seen_at: UtcDatetime | None
    place: SafetyPlace | CheckinPlace | None = Field(
        None, description="At most at the precision the friend allowed this viewer."
    )


class Board(BaseModel):
    items: list[BoardItem]


class AdsPause(BaseModel):
    """A time when a campaign's ads stood down in part of its target for an emergency."""

    model_config = ConfigDict(populate_by_name=True)
    from_: str = Field(validation_alias="from", serialization_alias="from")
    to: str | None = Field(description="null: still paused.")
    reason: Literal["emergency"]
