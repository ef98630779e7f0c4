"""Read replicas for the reads that tolerate a little lag (nearby, a box, categories, place pages).

A replica is used only while a background check finds it answering and within
`replica_max_lag_s` of the primary; otherwise those reads go to the primary, so a replica that
falls behind or goes away costs offload, never an error or an old answer. An account that wrote
within the same bound reads from the primary (`rw:{u<id>}` in Redis, set after its write
commits), so nobody misses their own place or check-in.

Key family (owned here): `rw:{u<id>}` string, "this account wrote recently"; expires after
`replica_max_lag_s`.
"""

import asyncio
import itertools
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from geo.core.config import Settings, driver_url
from geo.core.redis import RedisClient

log = logging.getLogger("geo.replicas")

# Seconds the replica is behind: 0 when it has replayed all it received (an idle primary sends
# nothing); otherwise the age of the last transaction it replayed, an upper bound of the lag.
LAG_SQL = text("""
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN 0
        WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
        ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 1e9)
    END""")


def wrote_recently_key(account_id: int) -> str:
    return f"rw:{{u{account_id}}}"


class ReplicaSet:
    """The configured replicas, their health as last checked, and a round-robin pick."""

    def __init__(self, engines: list[AsyncEngine], *, max_lag_s: float, check_s: float) -> None:
        self.engines = engines
        self.max_lag_s = max_lag_s
        self.check_s = check_s
        self.makers = [
            async_sessionmaker(e.execution_options(isolation_level="AUTOCOMMIT")) for e in engines
        ]
        self.healthy = [False] * len(engines)
        self._behind = [False] * len(engines)
        self._turn = itertools.cycle(range(len(engines)))

    @classmethod
    def from_settings(cls, settings: Settings) -> "ReplicaSet | None":
        urls = [u.strip() for u in settings.database_replica_urls.split(",") if u.strip()]
        if not urls:
            return None
        engines = [
            create_async_engine(
                driver_url(url, "asyncpg"),
                pool_size=settings.db_pool_size,
                max_overflow=0,
                pool_timeout=settings.db_pool_timeout,
                # A replica may vanish between checks: a dead pooled connection is found at
                # checkout, and the read goes to the primary instead.
                pool_pre_ping=True,
                connect_args={
                    "timeout": 2,
                    "server_settings": {"jit": "off", "application_name": "geo-replica"},
                },
            )
            for url in urls
        ]
        return cls(engines, max_lag_s=settings.replica_max_lag_s, check_s=settings.replica_check_s)

    def pick(self) -> int | None:
        """A healthy replica's index, in turn; None when none is."""
        for _ in range(len(self.engines)):
            i = next(self._turn)
            if self.healthy[i]:
                return i
        return None

    def mark_down(self, i: int) -> None:
        self.healthy[i] = False

    async def check_once(self) -> None:
        for i, engine in enumerate(self.engines):
            try:
                async with engine.connect() as conn:
                    lag = float((await conn.execute(LAG_SQL)).scalar_one())
                # Behind twice in a row: a check that lands between the receipt and the replay
                # of one commit after an idle spell reads the whole idle spell as lag.
                behind = lag > self.max_lag_s
                self.healthy[i] = not (behind and self._behind[i])
                self._behind[i] = behind
            except Exception as exc:  # down is a state to route around, not an error
                if self.healthy[i]:
                    log.warning("replica %d unreachable: %s", i, exc)
                self.healthy[i] = False

    async def run_forever(self) -> None:
        while True:
            await self.check_once()
            await asyncio.sleep(self.check_s)

    async def dispose(self) -> None:
        for engine in self.engines:
            await engine.dispose()


async def note_write(redis: RedisClient, account_id: int, max_lag_s: float) -> None:
    """After a write commits: this account reads from the primary while a replica may lag."""
    await redis.set(wrote_recently_key(account_id), b"1", px=max(1, int(max_lag_s * 1000)))


async def wrote_recently(redis: RedisClient, account_id: int) -> bool:
    try:
        return bool(await redis.exists(wrote_recently_key(account_id)))
    except Exception:  # without Redis we cannot tell: the primary is always right
        return True


async def open_replica_session(replicas: ReplicaSet) -> AsyncSession | None:
    """A session on a healthy replica with its connection already checked out, or None."""
    while (i := replicas.pick()) is not None:
        session = replicas.makers[i]()
        try:
            await session.connection()
            session.info["replica"] = i
            return session
        except Exception as exc:
            log.warning("replica %d failed at checkout: %s", i, exc)
            replicas.mark_down(i)
            await session.close()
    return None
