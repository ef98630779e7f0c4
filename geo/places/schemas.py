from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from geo.core.types import IdStr, Latitude, Longitude, Name, UserText, UtcDatetime

CategoryId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")]


class PlaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
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


class GeoJSONFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]
    next: str | None = None
