from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from geo.accounts import service, tokens
from geo.accounts.auth import CurrentActor, PresentedTokenHash, current_actor
from geo.accounts.schemas import (
    AccountCreate,
    AccountCreated,
    AccountRead,
    TokenRead,
    TokenRequest,
)
from geo.accounts.throttle import ThrottleDep
from geo.core.db import SessionDep
from geo.core.openapi import problems
from geo.core.redis import RedisDep

public_router = APIRouter(prefix="/v1", tags=["accounts"])
router = APIRouter(prefix="/v1", tags=["accounts"], dependencies=[Depends(current_actor)])


@public_router.post(
    "/accounts",
    status_code=201,
    response_model=AccountCreated,
    responses=problems(409, 422, 429, 503),
)
async def create_account(
    data: AccountCreate, request: Request, session: SessionDep, throttle: ThrottleDep
) -> AccountCreated:
    account, issued = await service.create_account(
        session,
        data=data,
        settings=request.app.state.settings,
        throttle=throttle,
        address=throttle.address_of(request),
    )
    return AccountCreated(
        id=str(account.id),
        handle=account.handle,
        kind=account.kind,
        created_at=account.created_at,
        token=issued.token,
        expires_at=issued.expires_at,
    )


@public_router.post("/auth/token", response_model=TokenRead, responses=problems(401, 422, 429, 503))
async def issue_token(
    data: TokenRequest, request: Request, session: SessionDep, throttle: ThrottleDep
) -> TokenRead:
    issued = await service.sign_in(
        session,
        handle=data.handle,
        password=data.password,
        settings=request.app.state.settings,
        throttle=throttle,
        address=throttle.address_of(request),
    )
    return TokenRead(token=issued.token, expires_at=issued.expires_at)


@router.delete("/auth/token", status_code=204, responses=problems(401, 503))
async def revoke_token(
    actor: CurrentActor,
    key: PresentedTokenHash,
    request: Request,
    session: SessionDep,
    redis: RedisDep,
) -> Response:
    """Sign out: the token of this request stops working at once, in every API process."""
    await tokens.revoke(
        session, redis, request.app.state.settings, account_id=actor.id, token_hash=key
    )
    request.app.state.token_cache.forget(key)
    return Response(status_code=204)


@router.delete("/auth/tokens", status_code=204, responses=problems(401, 503))
async def revoke_all_tokens(
    actor: CurrentActor, request: Request, session: SessionDep, redis: RedisDep
) -> Response:
    """Sign out everywhere: every token of the caller stops working at once."""
    await tokens.revoke_all(session, redis, request.app.state.settings, account_id=actor.id)
    request.app.state.token_cache.forget_account(actor.id)
    return Response(status_code=204)


@router.get("/me", response_model=AccountRead, responses=problems(401))
async def read_me(actor: CurrentActor, session: SessionDep) -> AccountRead:
    account = await service.get_account(session, actor.id)
    return AccountRead(
        id=str(account.id), handle=account.handle, kind=account.kind, created_at=account.created_at
    )
