"""Bearer tokens: issue, look up with sliding expiry, revoke one or all.

Revocation deletes the rows (the truth every cache miss reads) and writes a revocation mark in
Redis (keys.revoked) before the transaction commits. A process's token cache trusts a cached
grant only after checking those marks (one HMGET), so a revoked token stops working at once in
every API process, whatever `token_cache_seconds` is. A mark written for a revocation that then
rolls back only costs that account's tokens a cache miss: the database still answers.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from geo.accounts import keys
from geo.accounts.repository import AccountRepository, TokenReads
from geo.accounts.throttle import AuthUnavailable
from geo.core.auth import Actor, TokenGrant, hash_token, new_token
from geo.core.config import Settings
from geo.core.redis import RedisClient

_ALL = "all"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: datetime


def _lifetimes(settings: Settings) -> tuple[timedelta, timedelta]:
    idle = timedelta(seconds=min(settings.token_idle_seconds, settings.token_max_age_seconds))
    return idle, timedelta(seconds=settings.token_max_age_seconds)


def _slack(idle: timedelta) -> timedelta:
    # Extend only once the expiry has fallen this far behind: one write per token per slack,
    # not one per request. Bounded below so short test lifetimes still slide.
    return min(idle / 100, timedelta(hours=1))


async def issue(session: AsyncSession, settings: Settings, *, account_id: int) -> IssuedToken:
    token = new_token()
    idle, _ = _lifetimes(settings)
    row = await AccountRepository(session).add_token(
        account_id=account_id, token_hash=hash_token(token), lifetime=idle
    )
    return IssuedToken(token=token, expires_at=row.expires_at)


async def grant_for(
    session: AsyncSession, settings: Settings, token_hash: bytes
) -> TokenGrant | None:
    """The live token's grant, its expiry slid forward if it has fallen behind; None if dead."""
    repo = AccountRepository(session)
    found = await repo.by_token_hash(token_hash)
    if found is None:
        return None
    account, token = found
    actor = Actor(id=account.id, handle=account.handle, kind=account.kind)
    return await _granted(repo, settings, token_hash, actor, token.created_at, token.expires_at)


async def grant_on(
    conn: asyncpg.Connection, settings: Settings, token_hash: bytes
) -> TokenGrant | None:
    """`grant_for` on an autocommit asyncpg connection (the read pool's): a token cache miss."""
    reads = TokenReads(conn)
    found = await reads.live_token(token_hash)
    if found is None:
        return None
    actor = Actor(id=found.account_id, handle=found.handle, kind=found.kind)
    return await _granted(reads, settings, token_hash, actor, found.created_at, found.expires_at)


async def _granted(
    repo: AccountRepository | TokenReads,
    settings: Settings,
    token_hash: bytes,
    actor: Actor,
    created_at: datetime,
    expires_at: datetime,
) -> TokenGrant:
    """The grant of a live token, its expiry slid forward if it has fallen behind."""
    idle, max_age = _lifetimes(settings)
    target = min(created_at + max_age, datetime.now(UTC) + idle)
    if target - expires_at > _slack(idle):
        expires_at = await repo.extend_token(token_hash, idle=idle, max_age=max_age) or expires_at
    return TokenGrant(
        actor=actor, issued_at=created_at.timestamp(), expires_at=expires_at.timestamp()
    )


async def _mark(
    redis: RedisClient, settings: Settings, account_id: int, field: str, value: str
) -> None:
    key = keys.revoked(account_id)
    # The marks must outlive every token they could concern, and every cached grant of one.
    ttl = settings.token_max_age_seconds + int(settings.token_cache_seconds) + 60
    try:
        await redis.hset(key, field, value)
        await redis.expire(key, ttl)
    except RedisError as exc:
        raise AuthUnavailable("Could not revoke right now; retry.") from exc


async def revoke(
    session: AsyncSession,
    redis: RedisClient,
    settings: Settings,
    *,
    account_id: int,
    token_hash: bytes,
) -> None:
    """This token stops working at once, in every process."""
    await _mark(redis, settings, account_id, token_hash.hex(), "1")
    await AccountRepository(session).delete_token(token_hash)


async def revoke_all(
    session: AsyncSession, redis: RedisClient, settings: Settings, *, account_id: int
) -> None:
    """Every token of the account stops working at once, in every process."""
    repo = AccountRepository(session)
    await _mark(redis, settings, account_id, _ALL, repr((await repo.now()).timestamp()))
    await repo.delete_tokens(account_id)


async def cached_grant_holds(redis: RedisClient, grant: TokenGrant, token_hash: bytes) -> bool:
    """Whether a cached grant may be trusted: no revocation mark concerns it (one HMGET).

    Redis trouble counts as "no": the caller then asks the database, which is always right.
    """
    try:
        revoked_all, revoked_one = await redis.hmget(
            keys.revoked(grant.actor.id), [_ALL, token_hash.hex()]
        )
    except RedisError:
        return False
    if revoked_one is not None:
        return False
    return revoked_all is None or float(revoked_all) < grant.issued_at
