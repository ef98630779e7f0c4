"""Account rules: sign-up, sign-in, token issue and lookup."""

from sqlalchemy.ext.asyncio import AsyncSession

from geo.accounts.models import Account
from geo.accounts.passwords import hash_password, verify_password
from geo.accounts.repository import AccountRepository
from geo.accounts.schemas import AccountCreate
from geo.core.auth import Actor, hash_token, new_token
from geo.core.errors import Conflict, NotFound, Unauthorized


async def create_account(session: AsyncSession, *, data: AccountCreate) -> tuple[Account, str]:
    """Create an account and its first token. A taken handle (case-insensitive) is a 409."""
    repo = AccountRepository(session)
    password_hash = await hash_password(data.password)
    account = await repo.insert_if_handle_free(
        handle=data.handle, password_hash=password_hash, kind=data.kind
    )
    if account is None:
        raise Conflict(f"The handle {data.handle!r} is taken.")
    token = await issue_token(session, account_id=account.id)
    return account, token


async def issue_token(session: AsyncSession, *, account_id: int) -> str:
    token = new_token()
    await AccountRepository(session).add_token(account_id=account_id, token_hash=hash_token(token))
    return token


async def sign_in(session: AsyncSession, *, handle: str, password: str) -> str:
    """A new token for a correct handle and password; 401 otherwise (same answer for both)."""
    account = await AccountRepository(session).by_handle(handle)
    if not await verify_password(account.password_hash if account else None, password):
        raise Unauthorized("Wrong handle or password.")
    assert account is not None
    return await issue_token(session, account_id=account.id)


async def actor_for_token(session: AsyncSession, token: str) -> Actor | None:
    account = await AccountRepository(session).by_token_hash(hash_token(token))
    if account is None:
        return None
    return Actor(id=account.id, handle=account.handle, kind=account.kind)


async def get_account(session: AsyncSession, account_id: int) -> Account:
    account = await AccountRepository(session).by_id(account_id)
    if account is None:
        raise NotFound("No such account.")
    return account


async def accounts_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Account]:
    return {a.id: a for a in await AccountRepository(session).by_ids(ids)}


async def create_operator(session: AsyncSession, *, handle: str) -> tuple[Account, str]:
    """An `operator` account (declares emergencies), made on the server only: it gets a random
    password nobody knows and signs in with the token returned here."""
    account = await AccountRepository(session).insert_if_handle_free(
        handle=handle, password_hash=await hash_password(new_token()), kind="operator"
    )
    if account is None:
        raise Conflict(f"The handle {handle!r} is taken.")
    return account, await issue_token(session, account_id=account.id)
