"""Which server is missing, read from an exception: PostgreSQL or Redis, or neither.

Every layer raises its own kind of error when a server goes away: redis-py's ConnectionError,
asyncpg's connection errors, SQLAlchemy's DBAPIError wrapping them, or a bare OSError when asyncpg
cannot even connect. `component_down(exc)` reads the exception and what it was raised from, so
that one answer (`ServiceUnavailable`, 503 with Retry-After) names the missing part whichever
layer noticed, and a programming error is not mistaken for an outage (even one raised while
handling an outage).
"""

import asyncpg.exceptions as pg
import redis.exceptions as rd
from sqlalchemy.exc import DBAPIError

POSTGRESQL = "postgresql"
REDIS = "redis"
COMPONENTS = (POSTGRESQL, REDIS)

# Redis is unreachable, still loading its data, or (cluster) has no master for a slot.
REDIS_DOWN: tuple[type[BaseException], ...] = (
    rd.ConnectionError,  # BusyLoadingError and MaxConnectionsError too
    rd.TimeoutError,
    rd.ClusterDownError,
    rd.ClusterError,
    rd.MasterDownError,
    rd.TryAgainError,
    rd.SlotNotCoveredError,
    rd.ReadOnlyError,  # a write reached a replica mid-failover
)
# PostgreSQL is unreachable, refusing connections (starting up, shutting down, full), or the
# connection died under a statement.
POSTGRES_DOWN: tuple[type[BaseException], ...] = (
    pg.PostgresConnectionError,  # SQLSTATE class 08: ConnectionDoesNotExistError and kin
    pg.CannotConnectNowError,
    pg.AdminShutdownError,
    pg.CrashShutdownError,
    pg.TooManyConnectionsError,
)
_MAX_DEPTH = 8


def component_down(exc: BaseException) -> str | None:
    """ "postgresql" or "redis" when `exc` (or what it was raised from) says that server is
    missing; None for anything else, which stays a bug to log and answer 500."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < _MAX_DEPTH:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        found = _classify(current)
        if found is not None:
            return found
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        # Only what it was raised *from* (drivers and SQLAlchemy wrap with `raise ... from`): an
        # error raised while handling an outage (__context__) is its own error, maybe a bug.
        if current.__cause__ is not None:
            todo.append(current.__cause__)
    return None


def _classify(exc: BaseException) -> str | None:
    if isinstance(exc, REDIS_DOWN):
        return REDIS
    if isinstance(exc, POSTGRES_DOWN):
        return POSTGRESQL
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return POSTGRESQL  # SQLAlchemy saw the connection die and dropped it from the pool
    if isinstance(exc, pg.InterfaceError) and "closed" in str(exc):
        return POSTGRESQL  # asyncpg: "connection is closed" (other interface errors are bugs)
    if isinstance(exc, pg.InternalClientError) and "another operation" in str(exc):
        # asyncpg: the server died under a statement on this connection and the protocol was
        # left mid-operation ("cannot switch to state ...; another operation is in progress").
        # Seen under kill -9 of PostgreSQL (tests/faults/test_answers.py); the pool drops the
        # connection when it is returned broken.
        return POSTGRESQL
    if isinstance(exc, OSError):
        # A bare socket error (refused, reset, timed out on connect): blame the client library
        # that raised it. redis-py wraps its own, so in practice this is asyncpg connecting.
        return _raised_in(exc)
    return None


def _raised_in(exc: BaseException) -> str | None:
    tb = exc.__traceback__
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if "/asyncpg/" in filename or "/sqlalchemy/" in filename:
            found = POSTGRESQL
        elif "/redis/" in filename:
            found = REDIS
        tb = tb.tb_next
    return found
