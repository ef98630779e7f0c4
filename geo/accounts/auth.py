"""The authentication dependency every non-public router uses."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from geo.accounts import service
from geo.core.auth import Actor, TokenCache, hash_token
from geo.core.db import Database
from geo.core.errors import Unauthorized

bearer_scheme = HTTPBearer(
    auto_error=False, description="An opaque token from POST /v1/auth/token."
)


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Actor:
    """The account behind the bearer token; 401 when it is missing or unknown.

    A session is opened only on a cache miss: most requests are answered from the cache, and a
    session dependency would cost every request its setup and teardown.
    """
    if credentials is None or not credentials.credentials:
        raise Unauthorized()
    token = credentials.credentials
    if len(token) > 200:
        raise Unauthorized()
    cache: TokenCache = request.app.state.token_cache
    key = hash_token(token)
    actor = cache.get(key)
    if actor is None:
        db: Database = request.app.state.db
        async with db.read_sessionmaker() as session:  # type: ignore[misc]
            actor = await service.actor_for_token(session, token)
        if actor is None:
            raise Unauthorized()
        cache.put(key, actor)
    # Read by the lag-tolerant session (geo/core/db.py): an account's own writes come first.
    request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]
