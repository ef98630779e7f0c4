"""Places near a point with the ads slot beside them: places know nothing of ads, ads only read
places, and this route puts the two side by side."""

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from geo.accounts.auth import CurrentActor, current_actor
from geo.ads.serving import ads_next_to_places
from geo.core.db import LagTolerantSessionDep
from geo.core.openapi import problems
from geo.places import service
from geo.places.categories import CATEGORY_IDS
from geo.places.schemas import NearbyResponse

router = APIRouter(prefix="/v1", tags=["places"], dependencies=[Depends(current_actor)])


@router.get("/places/nearby", response_model=NearbyResponse, responses=problems(401))
async def list_nearby_places(
    request: Request,
    actor: CurrentActor,
    session: LagTolerantSessionDep,
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)],
    lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False)],
    radius_m: Annotated[float, Query(ge=1, le=service.MAX_RADIUS_M, allow_inf_nan=False)] = 1000,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    category: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=r"^[a-z0-9-]+$",
            json_schema_extra={"enum": list(CATEGORY_IDS)},
        ),
    ] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> Response:
    search = service.NearbySearch(
        lat=lat, lon=lon, radius_m=radius_m, limit=limit, category=category, q=q
    )
    places = await service.nearby_json(session, search)
    ads = await ads_next_to_places(
        request, session, actor=actor, lat=lat, lon=lon, category=category, places_json=places
    )
    # Hot path (bench/places_nearby.py keeps it honest): the places array is JSON built by
    # PostgreSQL; splice it in rather than parse it into models and render it again. The ads
    # beside it are the decision engine's cached documents (bench/ads_decision.py), raw as well.
    body = b'{"places":' + places.encode() + b',"ads":' + orjson.dumps(ads) + b"}"
    return Response(body, media_type="application/json")
