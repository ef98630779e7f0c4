from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from geo.core.types import (
    IdStr,
    Latitude,
    Longitude,
    Name,
    UserText,
    UtcDatetime,
    printable_with,
)
from geo.places.categories import CATEGORY_IDS

CATEGORY_PATTERN = r"^[a-z0-9-]+$"
# The document names the categories; the service answers an unknown one with its own 422.
CategoryId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=CATEGORY_PATTERN,
        json_schema_extra={"enum": list(CATEGORY_IDS)},
    ),
]
# Duplicate detection compares names without spaces, punctuation or symbols: something must
# remain. The document says it for ASCII (a pattern cannot name Unicode categories portably).
PlaceName = Annotated[
    Name,
    Field(
        json_schema_extra={"pattern": printable_with(r"[^\s\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]")}
    ),
]


class PlaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: PlaceName
    category: CategoryId
    lat: Latitude
    lon: Longitude
    address: Annotated[UserText, Field(max_length=500)] | None = None


class PlaceRead(BaseModel):
    id: IdStr
    name: str
    category: str
    lat: float
    lon: float
    address: str | None
    created_at: UtcDatetime


class NearbyPlace(PlaceRead):
    distance_m: float


class AdRead(BaseModel):
    """An ad as served; `id` is the impression id (signed)."""

    id: str
    campaign_id: str
    headline: str
    body: str
    place: PlaceRead
    distance_m: float


class NearbyResponse(BaseModel):
    places: list[NearbyPlace]
    ads: list[AdRead]


class PlacePage(BaseModel):
    items: list[PlaceRead]
    next: str | None


class DuplicatePlace(BaseModel):
    type: str
    title: str
    status: Literal[409]
    detail: str
    existing: PlaceRead


class CategoryNode(BaseModel):
    id: str
    name: str
    children: list["CategoryNode"]


class CategoryTree(BaseModel):
    items: list[CategoryNode]


class PointGeometry(BaseModel):
    type: Literal["Point"]
    coordinates: Annotated[list[float], Field(min_length=2, max_length=2)]  # [lon, lat]


class PlaceFeature(BaseModel):
    """A place as a GeoJSON Feature (RFC 7946): its point, and the place as its properties."""

    type: Literal["Feature"]
    id: IdStr
    geometry: PointGeometry
    properties: PlaceRead


class GeoJSONFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[PlaceFeature]
    next: str | None = None
