"""Places near a point with the ads slot beside them: places know nothing of ads, ads only read
places, and this route puts the two side by side."""

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from geo.accounts.auth import BEARER_SECURITY, authenticate
from geo.ads.serving import ads_next_to_places
from geo.core.db import lag_tolerant_connection
from geo.core.openapi import problems
from geo.core.queries import parse_query, query_openapi
from geo.places import service
from geo.places.categories import CATEGORY_IDS
from geo.places.schemas import NearbyResponse

# No router-level or parameter dependencies but the query: this route authenticates in the
# handler (`authenticate`) and opens its read itself; FastAPI's dependency solving was most of
# the framework's cost here (docs/benchmarks.md, issue 13).
router = APIRouter(prefix="/v1", tags=["places"])


class NearbyParams(BaseModel):
    """The query of `GET /v1/places/nearby`, validated as one model (one validation call, where
    six scalar parameters cost FastAPI six: a tenth of the endpoint's CPU in the profile)."""

    model_config = ConfigDict(extra="ignore")

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    radius_m: float = Field(1000, ge=1, le=service.MAX_RADIUS_M, allow_inf_nan=False)
    limit: int = Field(20, ge=1, le=100)
    category: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9-]+$",
        json_schema_extra={"enum": list(CATEGORY_IDS)},
    )
    q: str | None = Field(None, min_length=1, max_length=100)


@router.get(
    "/places/nearby",
    response_model=NearbyResponse,
    responses=problems(401),
    openapi_extra={**BEARER_SECURITY, **query_openapi(NearbyParams)},
)
async def list_nearby_places(request: Request) -> Response:
    query = parse_query(NearbyParams, request)
    actor = await authenticate(request)
    lat, lon, category = query.lat, query.lon, query.category
    search = service.NearbySearch(
        lat=lat, lon=lon, radius_m=query.radius_m, limit=query.limit, category=category, q=query.q
    )
    async with lag_tolerant_connection(request) as conn:
        places = await service.nearby_json(conn, search)
    ads = await ads_next_to_places(
        request, actor=actor, lat=lat, lon=lon, category=category, places_json=places
    )
    # Hot path (bench/places_nearby.py keeps it honest): the places array is JSON built by
    # PostgreSQL; splice it in rather than parse it into models and render it again. The ads
    # beside it are the decision engine's cached documents (bench/ads_decision.py), raw as well.
    body = b'{"places":' + places.encode() + b',"ads":' + orjson.dumps(ads) + b"}"
    return Response(body, media_type="application/json")
