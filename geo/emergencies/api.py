from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from geo.accounts.auth import CurrentActor, current_actor
from geo.core.db import SessionDep
from geo.core.ids import IdPath, parse_id
from geo.core.openapi import inline_schema, problems
from geo.core.pagination import PageDep, next_cursor
from geo.core.redis import RedisDep
from geo.core.responses import json_response
from geo.emergencies import areas, safety, service
from geo.emergencies.schemas import (
    Board,
    EmergencyCreate,
    EmergencyFeature,
    EmergencyFeatureCollection,
    EmergencyPage,
    EmergencyRead,
    EmergencyUpdate,
    SafetyCreate,
    SafetyRead,
)

router = APIRouter(prefix="/v1", tags=["emergencies"], dependencies=[Depends(current_actor)])
GEOJSON = "application/geo+json"
# The same header rules as check-ins' (the key store is shared: geo.checkins.presence).
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
]
GEOJSON_LIST = {
    "description": "Emergencies, newest first (GeoJSON when asked with Accept).",
    "content": {GEOJSON: {"schema": inline_schema(EmergencyFeatureCollection)}},
}


@router.post(
    "/emergencies",
    status_code=201,
    response_model=EmergencyRead,
    responses=problems(401, 403),
)
async def declare_emergency(
    request: Request, data: EmergencyCreate, actor: CurrentActor, session: SessionDep
) -> EmergencyRead:
    emergency = await service.declare(session, actor=actor, data=data)
    areas.invalidate(request.app.state)
    return emergency


@router.get(
    "/emergencies", response_model=EmergencyPage, responses={**problems(401), 200: GEOJSON_LIST}
)
async def list_emergencies(
    actor: CurrentActor,
    session: SessionDep,
    page: PageDep,
    active: Annotated[bool, Query(description="Only those not ended.")] = True,
    accept: Annotated[str | None, Header()] = None,
) -> Response | EmergencyPage:
    rows = await service.list_rows(session, active=active, limit=page.limit, before=page.before)
    cursor = next_cursor([r.id for r in rows], page.limit)
    if accept and GEOJSON in accept:
        collection = EmergencyFeatureCollection(
            type="FeatureCollection",
            features=[service.emergency_feature(r) for r in rows],
            next=cursor,
        )
        return json_response(collection.model_dump(mode="json"), media_type=GEOJSON)
    return EmergencyPage(items=[service.emergency_read(r) for r in rows], next=cursor)


@router.get(
    "/emergencies/{emergency_id}",
    response_model=EmergencyRead,
    responses={
        **problems(401, 404),
        200: {"content": {GEOJSON: {"schema": inline_schema(EmergencyFeature)}}},
    },
)
async def read_emergency(
    emergency_id: IdPath,
    actor: CurrentActor,
    session: SessionDep,
    accept: Annotated[str | None, Header()] = None,
) -> Response | EmergencyRead:
    row = await service.get_row(session, parse_id(emergency_id))
    if accept and GEOJSON in accept:
        feature = service.emergency_feature(row)
        return json_response(feature.model_dump(mode="json"), media_type=GEOJSON)
    return service.emergency_read(row)


@router.patch(
    "/emergencies/{emergency_id}",
    response_model=EmergencyRead,
    responses=problems(401, 403, 404),
)
async def update_emergency(
    request: Request,
    emergency_id: IdPath,
    data: EmergencyUpdate,
    actor: CurrentActor,
    session: SessionDep,
) -> EmergencyRead:
    emergency = await service.update(
        session, actor=actor, emergency_id=parse_id(emergency_id), data=data
    )
    areas.invalidate(request.app.state)
    return emergency


@router.post(
    "/emergencies/{emergency_id}/safety",
    status_code=201,
    response_model=SafetyRead,
    responses=problems(401, 404, 409, 429),
)
async def report_safety(
    emergency_id: IdPath,
    data: SafetyCreate,
    actor: CurrentActor,
    session: SessionDep,
    redis: RedisDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> SafetyRead:
    # A retried key answers with the first answer's status, which the store keeps.
    response.status_code, report = await safety.create_report(
        session,
        redis,
        actor=actor,
        emergency_id=parse_id(emergency_id),
        data=data,
        idempotency_key=idempotency_key,
    )
    return report


@router.get(
    "/emergencies/{emergency_id}/friends", response_model=Board, responses=problems(401, 404)
)
async def read_friends_board(
    emergency_id: IdPath, actor: CurrentActor, session: SessionDep
) -> Board:
    return await safety.board(session, actor=actor, emergency_id=parse_id(emergency_id))
