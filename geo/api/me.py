"""Leaving and taking one's data: the account's routes that reach every domain (see erasure)."""

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from geo.accounts.auth import CurrentActor, current_actor
from geo.accounts.schemas import AccountErase
from geo.accounts.throttle import ThrottleDep
from geo.api import erasure
from geo.api.schemas import AccountExport
from geo.core.db import SessionDep
from geo.core.openapi import problems
from geo.core.redis import RedisDep

router = APIRouter(prefix="/v1", tags=["accounts"], dependencies=[Depends(current_actor)])


@router.delete("/me", status_code=204, responses=problems(401, 403, 429, 503))
async def erase_me(
    data: AccountErase,
    actor: CurrentActor,
    request: Request,
    session: SessionDep,
    redis: RedisDep,
    throttle: ThrottleDep,
) -> Response:
    """Erase the account (password required; wrong: 403). Its check-ins leave every timeline and
    stream, its friendships, circles, follows, blocks and tokens go, its places stay without an
    owner, and ad ledger rows keep no link to it."""
    await erasure.erase(
        session,
        redis,
        actor=actor,
        password=data.password,
        settings=request.app.state.settings,
        throttle=throttle,
        address=throttle.address_of(request),
    )
    request.app.state.token_cache.forget_account(actor.id)
    return Response(status_code=204)


@router.get("/me/export", response_model=AccountExport, responses=problems(401))
async def export_me(actor: CurrentActor, session: SessionDep) -> AccountExport:
    """The caller's own data: account, check-ins with exact places, friends, circles, follows."""
    return await erasure.export(session, actor=actor)
