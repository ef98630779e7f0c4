from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from geo.checkins.plausibility import ACCURACY_FACTOR, BASE_ALLOWANCE_M, MAX_ACCURACY_M
from geo.core.types import IdStr, JsonFloat, Latitude, Longitude, UserText, UtcDatetime

Precision = Literal["exact", "area", "city"]
MAX_MESSAGE = 500


class Audience(BaseModel):
    model_config = ConfigDict(extra="forbid")
    circles: Annotated[list[IdStr], Field(max_length=100)] = []
    public: bool = False


class CheckinCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    place_id: IdStr
    lat: Latitude
    lon: Longitude
    # A check-in refuses accuracy worse than MAX_ACCURACY_M with its own problem (plausibility);
    # the document states that bound.
    accuracy_m: Annotated[
        JsonFloat,
        Field(
            gt=0,
            le=100_000,
            allow_inf_nan=False,
            json_schema_extra={"maximum": MAX_ACCURACY_M},
            description="Metres; the phone's horizontal accuracy. The reported position may be "
            f"at most {BASE_ALLOWANCE_M:.0f} m + {ACCURACY_FACTOR:g} x accuracy from the place.",
        ),
    ]
    message: Annotated[UserText, Field(max_length=MAX_MESSAGE)] | None = None
    audience: Audience = Audience()
    public_precision: Precision = Field(
        "area",
        description="What the public audience may know of the place: `exact` (the venue), `area` "
        "(its neighbourhood cell) or `city`. Private by default: `area` unless `exact` is asked "
        "for. Circle members and the author always see the venue.",
    )


class CheckinAccount(BaseModel):
    id: IdStr
    handle: str


class ExactPlace(BaseModel):
    """The venue itself: a viewer in a circle, the author, or a public `exact` check-in."""

    precision: Literal["exact"]
    id: IdStr
    name: str
    category: str
    lat: float
    lon: float
    address: str | None
    created_at: UtcDatetime


class CellPlace(BaseModel):
    """Only the neighbourhood or city cell: its centre, never the venue or its coordinates."""

    precision: Literal["area", "city"]
    cell: str = Field(description="H3 cell (area: resolution 7, city: 5).")
    lat: float
    lon: float


# The place at the precision this viewer may see: a venue, or only an area or city cell.
CheckinPlace = Annotated[ExactPlace | CellPlace, Field(discriminator="precision")]


class CheckinRead(BaseModel):
    id: IdStr
    account: CheckinAccount
    place: CheckinPlace
    message: str | None
    created_at: UtcDatetime
    audience: Literal["circle", "public"]


class CheckinPage(BaseModel):
    items: list[CheckinRead]
    next: str | None


class ExportPlace(BaseModel):
    id: IdStr
    name: str
    lat: float
    lon: float


class ExportAudience(BaseModel):
    circles: list[IdStr]
    public: bool


class ExportCheckin(BaseModel):
    """One of the author's own check-ins as `GET /v1/me/export` hands it back: exact venue and
    the position reported with it."""

    id: IdStr
    place: ExportPlace
    lat: float  # the position reported with the check-in
    lon: float
    accuracy_m: float
    message: str | None
    audience: ExportAudience
    public_precision: Precision
    created_at: UtcDatetime
