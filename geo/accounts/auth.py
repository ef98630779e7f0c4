"""The authentication dependency every non-public router uses."""

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from geo.accounts import tokens
from geo.core.auth import Actor, TokenCache, hash_token
from geo.core.db import Database, read_pool_connection
from geo.core.errors import Unauthorized

bearer_scheme = HTTPBearer(
    auto_error=False, description="An opaque token from POST /v1/auth/token."
)


async def presented_token_hash(  # async: a plain `def` dependency runs in the thread pool
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> bytes:
    """The hash of the bearer token on this request; 401 when there is none (or it is absurd)."""
    return _token_key(credentials.credentials if credentials is not None else "")


async def current_actor(
    request: Request, key: Annotated[bytes, Depends(presented_token_hash)]
) -> Actor:
    return await actor_for(request, key)


def bearer_token_hash(request: Request) -> bytes:
    """`presented_token_hash` read straight from the header, for the hot routes that
    authenticate in the handler (`authenticate`)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return _token_key(token if scheme.lower() == "bearer" else "")


def _token_key(token: str) -> bytes:
    if not token or len(token) > 200:
        raise Unauthorized()
    return hash_token(token)


async def authenticate(request: Request) -> Actor:
    """`current_actor` without FastAPI's dependency solving, for the hottest routes: three
    dependency levels (scheme, hash, actor) cost nearby a fifth of its CPU in the profile
    (docs/benchmarks.md). Such routes declare `BEARER_SECURITY` so the OpenAPI document still
    says they need a token."""
    return await actor_for(request, bearer_token_hash(request))


# The security requirement FastAPI writes for routes that depend on `bearer_scheme`.
BEARER_SECURITY: dict[str, Any] = {"security": [{"HTTPBearer": []}]}


async def actor_for(request: Request, key: bytes) -> Actor:
    """The account behind the bearer token; 401 when it is missing, unknown, expired or revoked.

    The database is asked only on a cache miss: most requests are answered from the cache (after
    one Redis HMGET for revocation marks), and a session dependency would cost every request its
    setup and teardown.
    """
    state = request.app.state
    cache: TokenCache = state.token_cache
    grant = cache.get(key)
    if grant is not None and await tokens.cached_grant_holds(state.redis, grant, key):
        # Read by the lag-tolerant session (geo/core/db.py): an account's own writes come first.
        request.state.actor = grant.actor
        return grant.actor
    db: Database = state.db
    if db.read_pool is not None:
        # A miss is one prepared statement on the primary's read pool (autocommit, as the read
        # session is): through a session and the ORM it cost more than a check-in (issue 13).
        async with read_pool_connection(db) as conn:
            grant = await tokens.grant_on(conn, state.settings, key)
    else:  # tests: the read session joins the test's transaction
        async with db.read_sessionmaker() as session:  # type: ignore[misc]
            grant = await tokens.grant_for(session, state.settings, key)
    if grant is None:
        cache.forget(key)
        raise Unauthorized()
    cache.put(key, grant)
    request.state.actor = grant.actor
    return grant.actor


CurrentActor = Annotated[Actor, Depends(current_actor)]
PresentedTokenHash = Annotated[bytes, Depends(presented_token_hash)]
