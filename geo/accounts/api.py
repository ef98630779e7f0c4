from fastapi import APIRouter, Depends

from geo.accounts import service
from geo.accounts.auth import CurrentActor, current_actor
from geo.accounts.schemas import AccountCreate, AccountCreated, AccountRead, TokenRead, TokenRequest
from geo.core.db import SessionDep
from geo.core.openapi import problems

public_router = APIRouter(prefix="/v1", tags=["accounts"])
router = APIRouter(prefix="/v1", tags=["accounts"], dependencies=[Depends(current_actor)])


@public_router.post(
    "/accounts", status_code=201, response_model=AccountCreated, responses=problems(409, 422)
)
async def create_account(data: AccountCreate, session: SessionDep) -> AccountCreated:
    account, token = await service.create_account(session, data=data)
    return AccountCreated(
        id=str(account.id),
        handle=account.handle,
        kind=account.kind,
        created_at=account.created_at,
        token=token,
    )


@public_router.post("/auth/token", response_model=TokenRead, responses=problems(401, 422))
async def issue_token(data: TokenRequest, session: SessionDep) -> TokenRead:
    token = await service.sign_in(session, handle=data.handle, password=data.password)
    return TokenRead(token=token)


@router.get("/me", response_model=AccountRead, responses=problems(401))
async def read_me(actor: CurrentActor, session: SessionDep) -> AccountRead:
    account = await service.get_account(session, actor.id)
    return AccountRead(
        id=str(account.id), handle=account.handle, kind=account.kind, created_at=account.created_at
    )
