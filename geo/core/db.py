"""Engine, sessions and the declarative base.

One transaction per request: `get_session` commits when the handler returns and rolls back when it
raises. Services and repositories only `flush()`. Handlers that only read one snapshot-independent
result (nearby search, a box, one place) may take `ReadSessionDep` instead: an autocommit session
that spares the BEGIN and COMMIT round trips on the hottest paths.
"""

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import MetaData
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from geo.core.config import Settings, driver_url
from geo.core.metrics import LAG_TOLERANT_READS
from geo.core.replicas import ReplicaSet, note_write, open_replica_session, wrote_recently

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


@dataclass
class Database:
    """The engine and its session factory, created in the app's lifespan (never at import)."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # Autocommit sessions for read-only handlers; tests bind it to their rolled-back transaction.
    read_sessionmaker: async_sessionmaker[AsyncSession] | None = None
    # Streaming replicas for lag-tolerant reads (GEO_DATABASE_REPLICA_URLS); None: primary only.
    replicas: ReplicaSet | None = None
    # asyncpg's own pool for the hot autocommit reads of read sessions on the primary (nearby):
    # no SQLAlchemy pool checkout on their path. None in tests, whose reads must join their
    # rolled-back transaction: there the read session's own connection is used instead.
    read_pool: asyncpg.Pool | None = None
    # asyncpg's own pool for the hot write (a check-in: `write_transaction`); None in tests, whose
    # writes must join their rolled-back transaction (through a session, as every other write).
    write_pool: asyncpg.Pool | None = None
    # How long a request waits for a connection of the asyncpg pools (GEO_DB_POOL_TIMEOUT).
    pool_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.read_sessionmaker is None:
            self.read_sessionmaker = self.sessionmaker

    async def open_read_pool(self, settings: Settings) -> None:
        if settings.db_read_pool_size <= 0 or self.read_pool is not None:
            return
        self.read_pool = await asyncpg.create_pool(
            "postgresql://" + settings.database_url.partition("://")[2],
            # Opened on demand: connections exist only as far as reads run concurrently.
            min_size=0,
            max_size=settings.db_read_pool_size,
            server_settings={"jit": "off", "application_name": "geo-read"},
            timeout=settings.db_connect_timeout,
            reset=keep_session_state,
        )

    async def open_write_pool(self, settings: Settings) -> None:
        if settings.db_write_pool_size <= 0 or self.write_pool is not None:
            return
        self.write_pool = await asyncpg.create_pool(
            "postgresql://" + settings.database_url.partition("://")[2],
            min_size=0,  # opened on demand, as the other pools
            max_size=settings.db_write_pool_size,
            server_settings={"jit": "off", "application_name": "geo-write"},
            timeout=settings.db_connect_timeout,
            # Its transactions end before release (`write_transaction`) and change no session
            # state: asyncpg's default reset would be one more round trip per check-in.
            reset=keep_session_state,
        )

    async def dispose(self) -> None:
        if self.write_pool is not None:
            await self.write_pool.close()
        if self.read_pool is not None:
            await self.read_pool.close()
        if self.replicas is not None:
            await self.replicas.dispose()
        await self.engine.dispose()


def create_database(settings: Settings) -> Database:
    """Build an async engine (asyncpg) for the configured `DATABASE_URL`."""
    engine = create_async_engine(
        driver_url(settings.database_url, "asyncpg"),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=False,
        # asyncpg's statement cache stays on; JIT would only slow the short KNN queries down.
        connect_args={
            "server_settings": {"jit": "off", "application_name": "geo"},
            "timeout": settings.db_connect_timeout,
        },
    )
    # Same pool; on asyncpg AUTOCOMMIT is a client-side flag, so checkout costs no round trip.
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    return Database(
        engine,
        async_sessionmaker(engine, expire_on_commit=False),
        async_sessionmaker(autocommit, expire_on_commit=False),
        ReplicaSet.from_settings(settings),
        pool_timeout=settings.db_pool_timeout,
    )


async def keep_session_state(conn: asyncpg.Connection) -> None:
    """asyncpg's pool reset for connections that only run single autocommit reads: asyncpg still
    rolls back a transaction left open; its default reset (advisory unlocks, CLOSE ALL, UNLISTEN,
    RESET ALL) would cost every request one more round trip, and these reads change none of it
    (it was a fifth of the nearby endpoint's time in the profile, docs/benchmarks.md)."""


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session in one transaction: committed if the request succeeds, rolled back otherwise."""
    db: Database = request.app.state.db
    async with db.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
            if db.replicas is not None and request.method not in ("GET", "HEAD"):
                await _note_write(request, db.replicas)


async def _note_write(request: Request, replicas: ReplicaSet) -> None:
    actor = getattr(request.state, "actor", None)
    if actor is not None:
        try:
            await note_write(request.app.state.redis, actor.id, replicas.max_lag_s)
        except Exception:  # the write is committed; a lost marker costs at most a lagging read
            LAG_TOLERANT_READS.labels("marker-lost").inc()


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """An autocommit session for handlers that write nothing: each statement is its own snapshot."""
    db: Database = request.app.state.db
    assert db.read_sessionmaker is not None
    async with db.read_sessionmaker() as session:
        if db.read_pool is not None:
            session.info["read_pool"] = db.read_pool
        yield session


async def get_lag_tolerant_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read that may be served by a replica: a healthy one within the lag bound, unless this
    account wrote within that bound (it must see its own write); otherwise the primary."""
    async with lag_tolerant_session(request) as session:
        yield session


@asynccontextmanager
async def lag_tolerant_session(request: Request) -> AsyncIterator[AsyncSession]:
    """`get_lag_tolerant_session` for a handler that opens its read itself (nearby: a generator
    dependency costs FastAPI more than the session does)."""
    db: Database = request.app.state.db
    session = None
    if db.replicas is not None:
        actor = getattr(request.state, "actor", None)
        if actor is None or not await wrote_recently(request.app.state.redis, actor.id):
            session = await open_replica_session(db.replicas)
    if session is None:
        _PRIMARY_READS.inc()
        assert db.read_sessionmaker is not None
        async with db.read_sessionmaker() as primary:
            if db.read_pool is not None:
                primary.info["read_pool"] = db.read_pool
            yield primary
        return
    LAG_TOLERANT_READS.labels("replica").inc()
    async with session:
        yield session


@asynccontextmanager
async def lag_tolerant_connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """The asyncpg connection for one hot lag-tolerant read (nearby): the read pool's on the
    primary, with no SQLAlchemy session at all (opening and closing one was a fifth of nearby's
    CPU); with replicas configured, or in tests (no read pool: reads join the test's
    transaction), the connection under `lag_tolerant_session`."""
    db: Database = request.app.state.db
    if db.replicas is None and db.read_pool is not None:
        _PRIMARY_READS.inc()
        async with read_pool_connection(db) as conn:
            yield conn
        return
    async with lag_tolerant_session(request) as session, driver_connection(session) as conn:
        yield conn


async def acquire(pool: asyncpg.Pool, timeout: float) -> asyncpg.Connection:
    """A connection of an asyncpg pool, waiting at most `timeout` for a free one; then the session
    pool's own timeout error, answered 503 "busy" (geo.core.errors): the process is overloaded.
    Opening a connection that times out stays a PostgreSQL outage (geo.core.outages)."""
    # asyncio.timeout, not acquire(timeout=): asyncpg's wait_for costs a task per request.
    waiting = asyncio.timeout(timeout)
    try:
        async with waiting:
            return await pool.acquire()
    except TimeoutError:
        if not waiting.expired():
            raise
        raise PoolTimeout("no free connection in the pool") from None


@asynccontextmanager
async def read_pool_connection(db: Database) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the read pool (autocommit: each statement its own snapshot), for one hot
    read that needs no session (nearby, a token cache miss), within the pool timeout."""
    assert db.read_pool is not None
    conn = await acquire(db.read_pool, db.pool_timeout)
    try:
        yield conn
    finally:
        await db.read_pool.release(conn)


@asynccontextmanager
async def write_transaction(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """`get_session`'s one transaction per request on a bare asyncpg connection, for the hottest
    write (a check-in), opened by the handler itself: committed when the block ends, rolled back
    when it raises, so the commit comes before the response as with `SessionDep`.

    In production the connection is the write pool's (no SQLAlchemy session: opening, beginning
    and committing one, and dependency solving for it, were a third of the check-in's CPU,
    docs/benchmarks.md). Without a write pool (tests: their sessions join the test's
    transaction) it is the connection under a session of `db.sessionmaker`, committed as
    `get_session` commits."""
    db: Database = request.app.state.db
    if db.write_pool is not None:
        conn = await acquire(db.write_pool, db.pool_timeout)
        try:
            async with conn.transaction():
                yield conn
        finally:
            await db.write_pool.release(conn)
    else:
        async with db.sessionmaker() as session:
            try:
                async with driver_connection(session) as conn:
                    yield conn
            except BaseException:
                await session.rollback()
                raise
            await session.commit()
    if db.replicas is not None:
        await _note_write(request, db.replicas)


@asynccontextmanager
async def driver_connection(session: AsyncSession) -> AsyncIterator[asyncpg.Connection]:
    """The asyncpg connection under a session, for hot-path statements that SQLAlchemy's execution
    layer would cost more than PostgreSQL does (docs/benchmarks.md). It is the session's own
    connection, so a statement here sees and joins the session's transaction (the tests' outer
    transaction too). SQLAlchemy's adapter lock is held meanwhile: another task sharing the
    connection (only in tests) waits instead of interleaving. asyncpg prepares each statement once
    per connection and caches it.

    A read session of a `Database` with a `read_pool` (autocommit: each statement is its own
    snapshot anyway) takes a connection from that pool instead, sparing the session's checkout."""
    pool: asyncpg.Pool | None = session.info.get("read_pool")
    if pool is not None:
        async with pool.acquire() as pooled:
            yield pooled
        return
    conn = await session.connection()
    adapted: Any = (await conn.get_raw_connection()).dbapi_connection
    # Private to SQLAlchemy's asyncpg adapter (2.0/2.1); tests/places prove the transaction join.
    async with adapted._execute_mutex:
        if adapted._transaction is None:
            await adapted._start_transaction()  # a no-op on autocommit sessions
        yield adapted._connection


_PRIMARY_READS = LAG_TOLERANT_READS.labels("primary")
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=64)
def native_sql(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` placeholders as asyncpg's `$n`, with the names in order (`::casts` are kept), so a
    repository writes one SQL text for both SQLAlchemy and the driver path."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    return _NAMED.sub(number, sql), tuple(names)


# scope="function": commit before the response is sent. With the default ("request") FastAPI
# sends the response first, so a client following a 303 (or retrying at once) could read before
# the commit, and a failed commit would follow an answer that already said 201. Read sessions
# likewise hand their connection back to the pool before the response goes out.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
LagTolerantSessionDep = Annotated[AsyncSession, Depends(get_lag_tolerant_session, scope="function")]
