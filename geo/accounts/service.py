"""Account rules: sign-up, sign-in (both rate-limited), token lookup."""

import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from geo.accounts import tokens
from geo.accounts.models import Account
from geo.accounts.passwords import hash_password, verify_password
from geo.accounts.repository import AccountRepository
from geo.accounts.schemas import AccountCreate
from geo.accounts.throttle import AuthThrottle
from geo.accounts.tokens import IssuedToken
from geo.core.auth import Actor, TokenGrant, hash_token
from geo.core.config import Settings
from geo.core.errors import Conflict, NotFound, Unauthorized


async def create_account(
    session: AsyncSession,
    *,
    data: AccountCreate,
    settings: Settings,
    throttle: AuthThrottle,
    address: str,
) -> tuple[Account, IssuedToken]:
    """Create an account and its first token. A taken handle (case-insensitive) is a 409.

    Counted against the sign-up limits before the password is hashed.
    """
    await throttle.attempt(action="sign-up", handle=data.handle, address=address)
    repo = AccountRepository(session)
    password_hash = await hash_password(data.password)
    account = await repo.insert_if_handle_free(
        handle=data.handle, password_hash=password_hash, kind=data.kind
    )
    if account is None:
        raise Conflict(f"The handle {data.handle!r} is taken.")
    return account, await tokens.issue(session, settings, account_id=account.id)


async def sign_in(
    session: AsyncSession,
    *,
    handle: str,
    password: str,
    settings: Settings,
    throttle: AuthThrottle,
    address: str,
) -> IssuedToken:
    """A new token for a correct handle and password; 401 otherwise (same answer for both).

    Counted against the sign-in limits (429) before the password is checked.
    """
    await throttle.attempt(action="sign-in", handle=handle, address=address)
    repo = AccountRepository(session)
    account = await repo.by_handle(handle)
    if not await verify_password(account.password_hash if account else None, password):
        raise Unauthorized("Wrong handle or password.")
    assert account is not None
    await repo.delete_expired_tokens(account.id)
    return await tokens.issue(session, settings, account_id=account.id)


async def grant_for_token(
    session: AsyncSession, settings: Settings, token: str
) -> TokenGrant | None:
    return await tokens.grant_for(session, settings, hash_token(token))


async def actor_for_token(session: AsyncSession, settings: Settings, token: str) -> Actor | None:
    grant = await grant_for_token(session, settings, token)
    return grant.actor if grant else None


async def get_account(session: AsyncSession, account_id: int) -> Account:
    account = await AccountRepository(session).by_id(account_id)
    if account is None:
        raise NotFound("No such account.")
    return account


async def delete_account(session: AsyncSession, account_id: int) -> None:
    """The account row goes; its dependants follow by foreign key (see the repository)."""
    await AccountRepository(session).delete(account_id)


async def accounts_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Account]:
    return {a.id: a for a in await AccountRepository(session).by_ids(ids)}


async def create_operator(
    session: AsyncSession, *, handle: str, settings: Settings
) -> tuple[Account, str]:
    """An `operator` account (declares emergencies), made on the server only: it gets a random
    password nobody knows and signs in with the token returned here."""
    account = await AccountRepository(session).insert_if_handle_free(
        handle=handle, password_hash=await hash_password(secrets.token_urlsafe(32)), kind="operator"
    )
    if account is None:
        raise Conflict(f"The handle {handle!r} is taken.")
    issued = await tokens.issue(session, settings, account_id=account.id)
    return account, issued.token
