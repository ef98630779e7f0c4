import math
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from geo.accounts.auth import CurrentActor, current_actor
from geo.core.db import LagTolerantSessionDep, SessionDep
from geo.core.errors import NotFound, Unprocessable
from geo.core.ids import IdPath, parse_id
from geo.core.openapi import inline_schema, problem_with, problems
from geo.core.pagination import PageDep, next_cursor
from geo.core.responses import json_response as _json
from geo.places import service
from geo.places.schemas import (
    CategoryTree,
    DuplicatePlace,
    GeoJSONFeatureCollection,
    PlaceCreate,
    PlacePage,
    PlaceRead,
)

router = APIRouter(prefix="/v1", tags=["places"], dependencies=[Depends(current_actor)])

GEOJSON = "application/geo+json"


@router.post(
    "/places",
    status_code=201,
    response_model=PlaceRead,
    responses={
        **problems(401),
        409: problem_with(DuplicatePlace, "A duplicate within 50 m"),
    },
)
async def create_place(data: PlaceCreate, actor: CurrentActor, session: SessionDep) -> PlaceRead:
    return service.place_read(await service.create_place(session, actor=actor, data=data))


# What `_parse_bbox` accepts, as far as a pattern can say it: four decimals in range (the parser
# also takes exponents; the document names the plain form).
_LON = r"-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[1-9]?[0-9])(?:\.[0-9]+)?)"
_LAT = r"-?(?:90(?:\.0+)?|[1-8]?[0-9](?:\.[0-9]+)?)"
BBOX_PATTERN = f"^{_LON},{_LAT},{_LON},{_LAT}$"


def _parse_bbox(bbox: str) -> tuple[float, float, float, float]:
    def bad(message: str) -> Unprocessable:
        return Unprocessable(
            f"Invalid bbox: {message}.", errors=[{"field": "query.bbox", "message": message}]
        )

    parts = bbox.split(",")
    if len(parts) != 4:
        raise bad("expected minlon,minlat,maxlon,maxlat")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise bad("not numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise bad("not finite")
    min_lon, min_lat, max_lon, max_lat = values
    if not (-180 <= min_lon <= 180 and -180 <= max_lon <= 180):
        raise bad("longitude out of [-180, 180]")
    if not (-90 <= min_lat <= 90 and -90 <= max_lat <= 90):
        raise bad("latitude out of [-90, 90]")
    if min_lon >= max_lon or min_lat >= max_lat:
        raise bad("min must be below max (boxes across the antimeridian: ask for two boxes)")
    return min_lon, min_lat, max_lon, max_lat


@router.get(
    "/places",
    response_model=PlacePage,
    responses={
        **problems(401),
        200: {
            "description": "Places in the box, newest first.",
            "content": {GEOJSON: {"schema": inline_schema(GeoJSONFeatureCollection)}},
        },
    },
)
async def list_places_in_box(
    actor: CurrentActor,
    session: LagTolerantSessionDep,
    page: PageDep,
    bbox: Annotated[
        str,
        Query(
            min_length=7,
            max_length=200,
            description="minlon,minlat,maxlon,maxlat, each min below its max (a box across the "
            "antimeridian is asked as two boxes).",
            json_schema_extra={"pattern": BBOX_PATTERN},
        ),
    ],
    accept: Annotated[str | None, Header()] = None,
) -> Response | PlacePage:
    box = _parse_bbox(bbox)
    places = await service.places_in_box(session, box=box, limit=page.limit, before=page.before)
    cursor = next_cursor([p.id for p in places], page.limit)
    if accept and GEOJSON in accept:
        collection = GeoJSONFeatureCollection(
            type="FeatureCollection",
            features=[service.place_feature(p) for p in places],
            next=cursor,
        )
        return _json(collection.model_dump(mode="json"), media_type=GEOJSON)
    return PlacePage(items=[service.place_read(p) for p in places], next=cursor)


@router.get("/places/{place_id}", response_model=PlaceRead, responses=problems(401, 404))
async def read_place(
    request: Request, place_id: IdPath, actor: CurrentActor, session: LagTolerantSessionDep
) -> PlaceRead:
    try:
        place = await service.get_place(session, parse_id(place_id))
    except NotFound:
        if "replica" not in session.info:
            raise
        # A replica may not have it yet (someone else's new place, linked from a fresh
        # check-in): a miss is asked of the primary before it is a 404.
        async with request.app.state.db.read_sessionmaker() as primary:
            place = await service.get_place(primary, parse_id(place_id))
    return service.place_read(place)


@router.get("/categories", response_model=CategoryTree, responses=problems(401))
async def list_categories(actor: CurrentActor, session: LagTolerantSessionDep) -> CategoryTree:
    tree = await service.category_tree(session)
    return CategoryTree(items=tree.as_tree())
