"""Server-side browser sessions (the dashboard's): a random session id in the cookie, and in Redis
the hash of a token issued at sign-in. The cookie never carries a bearer token: stolen from a
browser it works only through the dashboard and dies at sign-out, and because the session rests on
an ordinary token row, expiry, revoke-all and account erasure end it too.
"""

import secrets

import orjson
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from geo.accounts import keys, service, tokens
from geo.accounts.throttle import AuthThrottle, AuthUnavailable
from geo.core.auth import Actor, hash_token
from geo.core.config import Settings
from geo.core.redis import RedisClient


async def open_session(
    session: AsyncSession,
    redis: RedisClient,
    *,
    handle: str,
    password: str,
    settings: Settings,
    throttle: AuthThrottle,
    address: str,
    ttl_s: int,
) -> str:
    """Sign in (rate-limited, 401 when wrong) and return a new session id."""
    issued = await service.sign_in(
        session,
        handle=handle,
        password=password,
        settings=settings,
        throttle=throttle,
        address=address,
    )
    session_id = secrets.token_urlsafe(32)
    value = orjson.dumps({"token_hash": hash_token(issued.token).hex()})
    try:
        await redis.set(keys.dashboard_session(session_id), value, ex=ttl_s)
    except RedisError as exc:
        raise AuthUnavailable("Sign-in is unavailable for a moment; retry.") from exc
    return session_id


async def _token_hash(redis: RedisClient, session_id: str) -> bytes | None:
    try:
        raw = await redis.get(keys.dashboard_session(session_id))
    except RedisError as exc:
        # Not "signed out": the session may well live; the page answers 503 and the browser
        # retries, instead of sending a signed-in user to the sign-in form that cannot work.
        raise AuthUnavailable("Sessions are unavailable for a moment; retry.") from exc
    if raw is None:
        return None
    return bytes.fromhex(orjson.loads(raw)["token_hash"])


async def session_actor(
    session: AsyncSession, redis: RedisClient, settings: Settings, session_id: str
) -> Actor | None:
    """The account of a live session whose token still lives; None otherwise."""
    token_hash = await _token_hash(redis, session_id)
    if token_hash is None:
        return None
    grant = await tokens.grant_for(session, settings, token_hash)
    return grant.actor if grant else None


async def close_session(
    session: AsyncSession, redis: RedisClient, settings: Settings, session_id: str
) -> None:
    """Sign out: the session and the token behind it end at once."""
    token_hash = await _token_hash(redis, session_id)
    try:
        await redis.delete(keys.dashboard_session(session_id))
    except RedisError as exc:
        raise AuthUnavailable("Sign-out is unavailable for a moment; retry.") from exc
    if token_hash is None:
        return
    grant = await tokens.grant_for(session, settings, token_hash)
    if grant is not None:
        await tokens.revoke(
            session, redis, settings, account_id=grant.actor.id, token_hash=token_hash
        )
