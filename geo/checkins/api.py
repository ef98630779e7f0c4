from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from starlette.responses import Response

from geo.accounts.auth import BEARER_SECURITY, CurrentActor, authenticate, current_actor
from geo.checkins import ingest, service
from geo.checkins.schemas import CheckinCreate, CheckinPage, CheckinRead
from geo.core.bodies import HeaderField, body_openapi, read_json_body, validated
from geo.core.db import SessionDep, write_transaction
from geo.core.ids import IdPath, parse_id
from geo.core.openapi import problems
from geo.core.pagination import PageDep, next_cursor

router = APIRouter(prefix="/v1", tags=["checkins"], dependencies=[Depends(current_actor)])
# The check-in write authenticates, parses and opens its transaction in the handler: FastAPI's
# dependency solving (actor, session, Redis, header, body) and response model were more of its CPU
# than its SQL (docs/benchmarks.md, issue 13). Its route sits on the app itself, first (geo.app).
hot_router = APIRouter(prefix="/v1", tags=["checkins"])
# Bodies this module parses itself (`geo.core.bodies`), for the OpenAPI document's components.
documented_bodies = [CheckinCreate]

IDEMPOTENCY_KEY = HeaderField(
    "Idempotency-Key",
    Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
    ],
)


@hot_router.post(
    "/checkins",
    status_code=201,
    response_model=CheckinRead,
    responses=problems(401, 404, 409, 429),
    openapi_extra={
        **BEARER_SECURITY,
        "parameters": [IDEMPOTENCY_KEY.openapi()],
        **body_openapi(CheckinCreate),
    },
)
async def create_checkin(request: Request) -> Response:
    # In FastAPI's order: the body is read (400) before the token is checked (401), and invalid
    # header and body fields are answered together (422).
    body = await read_json_body(request)
    actor = await authenticate(request)
    errors: list[dict[str, object]] = []
    idempotency_key = IDEMPOTENCY_KEY.parse(request, errors)
    data = validated(CheckinCreate, body, errors)
    async with write_transaction(request) as conn:
        # A retried key answers with the first answer's status, which the store keeps.
        status, answer = await ingest.create_checkin(
            conn, request.app.state.redis, actor=actor, data=data, idempotency_key=idempotency_key
        )
    return Response(answer, status_code=status, media_type="application/json")


@router.get("/checkins/{checkin_id}", response_model=CheckinRead, responses=problems(401, 404))
async def read_checkin(checkin_id: IdPath, actor: CurrentActor, session: SessionDep) -> CheckinRead:
    return await service.get_checkin(session, actor=actor, checkin_id=parse_id(checkin_id))


@router.delete("/checkins/{checkin_id}", status_code=204, responses=problems(401, 403, 404))
async def delete_checkin(checkin_id: IdPath, actor: CurrentActor, session: SessionDep) -> Response:
    await service.delete_checkin(session, actor=actor, checkin_id=parse_id(checkin_id))
    return Response(status_code=204)


@router.get(
    "/accounts/{account_id}/checkins", response_model=CheckinPage, responses=problems(401, 404)
)
async def list_account_checkins(
    account_id: IdPath, actor: CurrentActor, session: SessionDep, page: PageDep
) -> CheckinPage:
    items = await service.list_checkins(
        session, actor=actor, author_id=parse_id(account_id), limit=page.limit, before=page.before
    )
    return _page(items, page.limit)


@router.get(
    "/places/{place_id}/checkins",
    response_model=CheckinPage,
    responses=problems(401, 404),
    description="Recent check-ins at the place that this viewer sees at `exact` precision (their "
    "own, their circles', and public ones the author published at the venue): a check-in public "
    "only at `area` or `city` precision is never listed under its venue.",
)
async def list_place_checkins(
    place_id: IdPath, actor: CurrentActor, session: SessionDep, page: PageDep
) -> CheckinPage:
    items = await service.list_checkins(
        session, actor=actor, place_id=parse_id(place_id), limit=page.limit, before=page.before
    )
    return _page(items, page.limit)


def _page(items: list[CheckinRead], limit: int) -> CheckinPage:
    return CheckinPage(items=items, next=next_cursor([int(c.id) for c in items], limit))
