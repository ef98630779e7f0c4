"""Recovery after Redis lost its data: PostgreSQL is the truth, Redis is rebuilt from it.

Detection: the epoch key (`keys.EPOCH`, owned here) is written once Redis was checked and rebuilt;
a Redis without it lost its data (a restart without persistence, a flush, a failover to an empty
replica) or is new. A worker notices within WATCH_EVERY_S and runs `recover`:

1. outbox rows relayed in the last RESEND_WINDOW are marked unsent, so the relay sends them again
   (their stream entries are gone, consumed or not; every handler is idempotent);
2. eagerly: the global public stream, and the home timelines of accounts that checked in within
   ACTIVE_WINDOW (at most ACTIVE_MAX, most recent first);
3. the epoch is written (its value: the ms when recovery started).

Every other home timeline is regenerated lazily, on its owner's first read (as Mastodon
regenerates a missing feed), once per account per epoch: the account's marker
(`keys.regen_marker`) says it was done, so an empty feed is not regenerated on every read.
Accounts made after the epoch started lost nothing and are only marked.

A regenerated timeline holds what the viewer receives by *today's* graph (the newest HOME_CAP),
where the fan-out delivered by the graph at check-in time: so after a loss a home may also hold
older check-ins of someone followed since. Each is one the viewer may see anyway (what a home
receives is a subset of what the viewer may see), and reads re-check visibility.

The local stream is a spatial query in PostgreSQL and loses nothing. The ads rebuild their own
state per campaign (geo/ads/caps.py): budgets by leasing afresh, frequency caps from the ledger.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from geo.checkins import service as checkins
from geo.core.db import Database
from geo.core.ids import EPOCH_MS, id_floor_for
from geo.core.redis import RedisClient
from geo.emergencies import areas
from geo.emergencies import safety as reports
from geo.fanout import keys
from geo.fanout.feed_store import FeedStore
from geo.outbox.repository import OutboxRepository

log = logging.getLogger("geo.fanout.recovery")
# Longer than any relay-to-consume lag we expect: rows relayed earlier were consumed before the
# loss, and their deliveries are restored by the rebuild instead.
RESEND_WINDOW = timedelta(minutes=15)
ACTIVE_WINDOW = timedelta(days=1)
ACTIVE_MAX = 10_000


@dataclass(frozen=True)
class Recovered:
    epoch_ms: int
    resent: int
    homes: int
    public: int


async def epoch(redis: RedisClient) -> int | None:
    """This Redis's epoch (ms when it was last rebuilt), None when it lost its data."""
    value = await redis.get(keys.EPOCH)
    return int(value) if value is not None else None


async def recover_if_lost(db: Database, redis: RedisClient) -> Recovered | None:
    """Run `recover` if Redis has no epoch (cheap when it has: one GET)."""
    if await epoch(redis) is not None:
        return None
    return await recover(db, redis)


async def recover(db: Database, redis: RedisClient, *, now: datetime | None = None) -> Recovered:
    """Repair a Redis that lost its data (idempotent: two workers may both run it)."""
    now = now or datetime.now(UTC)
    started_ms = int(now.timestamp() * 1000)
    log.warning("Redis has no epoch (it lost its data, or is new): rebuilding from PostgreSQL")
    async with db.sessionmaker() as session, session.begin():
        resent = await OutboxRepository(session).resend_sent_since(now - RESEND_WINDOW)
    async with db.sessionmaker() as session:
        public = await rebuild_public(session, redis)
        active = await checkins.recent_authors(
            session, since_id=id_floor_for(now - ACTIVE_WINDOW), limit=ACTIVE_MAX
        )
        for account_id in active:
            await regenerate_home(session, redis, account_id)
    # Processes caching the emergency areas compare versions: the counter restarted with Redis.
    await areas.bump_version(redis)
    await redis.set(keys.EPOCH, started_ms)
    done = Recovered(started_ms, resent, len(active), public)
    log.warning("Redis rebuilt: %s", done)
    return done


async def rebuild_public(session: AsyncSession, redis: RedisClient) -> int:
    """The global public stream: the newest public check-ins and safety reports."""
    ids = await checkins.public_ids(session, limit=keys.PUBLIC_CAP)
    ids += await reports.public_ids(session, limit=keys.PUBLIC_CAP)
    newest = sorted(ids, reverse=True)[: keys.PUBLIC_CAP]
    await FeedStore(redis).fill_public(newest)
    return len(newest)


async def regenerate_home(session: AsyncSession, redis: RedisClient, account_id: int) -> int:
    """One home timeline from PostgreSQL (today's graph, newest HOME_CAP), then marked."""
    ids = await checkins.home_ids(session, viewer_id=account_id, limit=keys.HOME_CAP)
    ids += await reports.home_ids(session, viewer_id=account_id, limit=keys.HOME_CAP)
    newest = sorted(ids, reverse=True)[: keys.HOME_CAP]
    await FeedStore(redis).fill_home(account_id, newest)
    await redis.set(keys.regen_marker(account_id), 1)
    return len(newest)


async def ensure_home(session: AsyncSession, redis: RedisClient, account_id: int) -> None:
    """Before a home read: regenerate the timeline if Redis lost it and it was not done yet in
    this epoch. One round trip when there is nothing to do."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.EPOCH)
        pipe.exists(keys.regen_marker(account_id))
        current, marked = await pipe.execute()
    if current is None or marked:
        return  # no loss noticed yet (the worker rebuilds first), or done in this epoch
    if (account_id >> 22) + EPOCH_MS >= int(current):
        await redis.set(keys.regen_marker(account_id), 1)  # made since: it lost nothing
        return
    await regenerate_home(session, redis, account_id)
