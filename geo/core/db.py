"""Engine, sessions and the declarative base.

One transaction per request: `get_session` commits when the handler returns and rolls back when it
raises. Services and repositories only `flush()`. Handlers that only read one snapshot-independent
result (nearby search, a box, one place) may take `ReadSessionDep` instead: an autocommit session
that spares the BEGIN and COMMIT round trips on the hottest paths.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import MetaData
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

    def __post_init__(self) -> None:
        if self.read_sessionmaker is None:
            self.read_sessionmaker = self.sessionmaker

    async def dispose(self) -> None:
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
        connect_args={"server_settings": {"jit": "off", "application_name": "geo"}},
    )
    # Same pool; on asyncpg AUTOCOMMIT is a client-side flag, so checkout costs no round trip.
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    return Database(
        engine,
        async_sessionmaker(engine, expire_on_commit=False),
        async_sessionmaker(autocommit, expire_on_commit=False),
        ReplicaSet.from_settings(settings),
    )


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
        yield session


async def get_lag_tolerant_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read that may be served by a replica: a healthy one within the lag bound, unless this
    account wrote within that bound (it must see its own write); otherwise the primary."""
    db: Database = request.app.state.db
    session = None
    if db.replicas is not None:
        actor = getattr(request.state, "actor", None)
        if actor is None or not await wrote_recently(request.app.state.redis, actor.id):
            session = await open_replica_session(db.replicas)
    if session is None:
        LAG_TOLERANT_READS.labels("primary").inc()
        assert db.read_sessionmaker is not None
        async with db.read_sessionmaker() as primary:
            yield primary
        return
    LAG_TOLERANT_READS.labels("replica").inc()
    async with session:
        yield session


# scope="function": commit before the response is sent. With the default ("request") FastAPI
# sends the response first, so a client following a 303 (or retrying at once) could read before
# the commit, and a failed commit would follow an answer that already said 201. Read sessions
# likewise hand their connection back to the pool before the response goes out.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
LagTolerantSessionDep = Annotated[AsyncSession, Depends(get_lag_tolerant_session, scope="function")]
