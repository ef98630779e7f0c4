from fastapi import APIRouter, Depends
from pydantic import BaseModel
from starlette.responses import Response

from geo.accounts import service as accounts
from geo.accounts.auth import CurrentActor, current_actor
from geo.core.db import SessionDep
from geo.core.ids import IdPath, parse_id
from geo.core.openapi import problems
from geo.core.pagination import PageDep, next_cursor
from geo.core.responses import json_response as _json
from geo.social import service
from geo.social.repository import CircleRow, FriendRequestRow
from geo.social.schemas import (
    AccountPage,
    AccountSummary,
    CircleCreate,
    CirclePage,
    CircleRead,
    CircleUpdate,
    FriendRequestCreate,
    FriendRequestRead,
)

router = APIRouter(prefix="/v1", tags=["social"], dependencies=[Depends(current_actor)])


def _answer(model: BaseModel, status: int = 200) -> Response:
    # Serialised once by orjson: FastAPI would validate the model again against response_model.
    return _json(model.model_dump(mode="json", by_alias=True), status)


def _request_read(request: FriendRequestRow) -> FriendRequestRead:
    return FriendRequestRead(
        id=str(request.id),
        from_=str(request.from_id),
        to=str(request.to_id),
        status=request.status,  # type: ignore[arg-type]  # the column's CHECK holds the Literal
    )


def _circle_read(circle: CircleRow) -> CircleRead:
    return CircleRead(
        id=str(circle.id),
        name=circle.name,
        members=[str(m) for m in circle.members],
        created_at=circle.created_at,
    )


@router.post(
    "/friend-requests",
    status_code=201,
    response_model=FriendRequestRead,
    responses=problems(401, 404, 409),
)
async def create_friend_request(
    data: FriendRequestCreate, actor: CurrentActor, session: SessionDep
) -> Response:
    request = await service.send_friend_request(session, actor=actor, to_id=parse_id(data.to))
    return _answer(_request_read(request), status=201)


@router.post(
    "/friend-requests/{request_id}/accept",
    response_model=FriendRequestRead,
    responses=problems(401, 403, 404, 409),
)
async def accept_friend_request(
    request_id: IdPath, actor: CurrentActor, session: SessionDep
) -> Response:
    request = await service.accept_friend_request(
        session, actor=actor, request_id=parse_id(request_id)
    )
    return _answer(_request_read(request))


@router.get("/friends", response_model=AccountPage, responses=problems(401))
async def list_friends(actor: CurrentActor, session: SessionDep, page: PageDep) -> Response:
    ids = await service.friend_ids(session, actor=actor, limit=page.limit, before=page.before)
    found = await accounts.accounts_by_ids(session, ids)
    items = [
        AccountSummary(
            id=str(i), handle=found[i].handle, kind=found[i].kind, created_at=found[i].created_at
        )
        for i in ids
        if i in found
    ]
    return _answer(AccountPage(items=items, next=next_cursor(ids, page.limit)))


@router.delete("/friends/{account_id}", status_code=204, responses=problems(401, 404))
async def delete_friend(account_id: IdPath, actor: CurrentActor, session: SessionDep) -> Response:
    await service.unfriend(session, actor=actor, other_id=parse_id(account_id))
    return Response(status_code=204)


@router.post("/circles", status_code=201, response_model=CircleRead, responses=problems(401))
async def create_circle(data: CircleCreate, actor: CurrentActor, session: SessionDep) -> Response:
    return _answer(_circle_read(await service.create_circle(session, actor=actor, data=data)), 201)


@router.get("/circles", response_model=CirclePage, responses=problems(401))
async def list_circles(actor: CurrentActor, session: SessionDep, page: PageDep) -> Response:
    circles = await service.list_circles(session, actor=actor, limit=page.limit, before=page.before)
    return _answer(
        CirclePage(
            items=[_circle_read(c) for c in circles],
            next=next_cursor([c.id for c in circles], page.limit),
        )
    )


@router.get("/circles/{circle_id}", response_model=CircleRead, responses=problems(401, 404))
async def read_circle(circle_id: IdPath, actor: CurrentActor, session: SessionDep) -> Response:
    circle = await service.get_circle(session, actor=actor, circle_id=parse_id(circle_id))
    return _answer(_circle_read(circle))


@router.put("/circles/{circle_id}", response_model=CircleRead, responses=problems(401, 404))
async def update_circle(
    circle_id: IdPath, data: CircleUpdate, actor: CurrentActor, session: SessionDep
) -> Response:
    circle = await service.update_circle(
        session, actor=actor, circle_id=parse_id(circle_id), data=data
    )
    return _answer(_circle_read(circle))


@router.delete("/circles/{circle_id}", status_code=204, responses=problems(401, 404))
async def delete_circle(circle_id: IdPath, actor: CurrentActor, session: SessionDep) -> Response:
    await service.delete_circle(session, actor=actor, circle_id=parse_id(circle_id))
    return Response(status_code=204)


@router.post("/follows/{account_id}", status_code=204, responses=problems(401, 404))
async def follow_account(account_id: IdPath, actor: CurrentActor, session: SessionDep) -> Response:
    await service.follow(session, actor=actor, followee_id=parse_id(account_id))
    return Response(status_code=204)


@router.delete("/follows/{account_id}", status_code=204, responses=problems(401, 404))
async def unfollow_account(
    account_id: IdPath, actor: CurrentActor, session: SessionDep
) -> Response:
    await service.unfollow(session, actor=actor, followee_id=parse_id(account_id))
    return Response(status_code=204)


@router.post("/blocks/{account_id}", status_code=204, responses=problems(401, 404))
async def block_account(account_id: IdPath, actor: CurrentActor, session: SessionDep) -> Response:
    await service.block(session, actor=actor, blocked_id=parse_id(account_id))
    return Response(status_code=204)


@router.delete("/blocks/{account_id}", status_code=204, responses=problems(401, 404))
async def unblock_account(account_id: IdPath, actor: CurrentActor, session: SessionDep) -> Response:
    await service.unblock(session, actor=actor, blocked_id=parse_id(account_id))
    return Response(status_code=204)
