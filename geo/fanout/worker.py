"""Background loops: the outbox relay and the stream consumers (a consumer group).

Workers acknowledge an event after all its writes, and reclaim what a dead consumer left pending.
"""

import asyncio
import json
import logging
import os
import socket

from redis.exceptions import ResponseError

from geo.core.db import Database
from geo.core.metrics import OUTBOX_BACKLOG
from geo.core.redis import RedisClient
from geo.fanout import keys, service
from geo.fanout.repository import OutboxRepository

log = logging.getLogger("geo.fanout.worker")
RECLAIM_IDLE_MS = 30_000


async def ensure_group(redis: RedisClient) -> None:
    try:
        await redis.xgroup_create(keys.STREAM, keys.GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def relay_once(db: Database, redis: RedisClient) -> int:
    async with db.sessionmaker() as session, session.begin():
        moved = await service.relay_outbox(session, redis)
        OUTBOX_BACKLOG.set(await OutboxRepository(session).backlog())
    return moved


async def consume_once(db: Database, redis: RedisClient, consumer: str, *,
                       block_ms: int = 1000, count: int = 100) -> int:
    """Handle one batch: first what others left pending too long, then new events."""
    _, claimed, _ = await redis.xautoclaim(keys.STREAM, keys.GROUP, consumer,
                                           min_idle_time=RECLAIM_IDLE_MS, count=count)
    batch = claimed
    if not batch:
        reply = await redis.xreadgroup(keys.GROUP, consumer, {keys.STREAM: ">"},
                                       count=count, block=block_ms)
        batch = reply[0][1] if reply else []
    events = [(fields[b"topic"].decode(), json.loads(fields[b"payload"]))
              for _, fields in batch if fields]  # no fields: trimmed away while pending
    if events:
        async with db.sessionmaker() as session, session.begin():
            await service.handle_batch(session, redis, events)
    if batch:
        # One XACK for the batch, after all its writes: a crash before it redelivers the whole
        # batch, which the idempotent writes absorb.
        await redis.xack(keys.STREAM, keys.GROUP, *[entry_id for entry_id, _ in batch])
    return len(batch)


async def drain(db: Database, redis: RedisClient, consumer: str = "inline") -> int:
    """Relay and deliver until nothing is left (tests and the CLI use it)."""
    await ensure_group(redis)
    handled = 0
    while True:
        moved = await relay_once(db, redis)
        done = await consume_once(db, redis, consumer, block_ms=1)
        handled += done
        if not moved and not done:
            return handled


async def run_forever(db: Database, redis: RedisClient, *, poll_s: float = 0.2) -> None:
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    await ensure_group(redis)

    async def relay_loop() -> None:
        while True:
            try:
                if not await relay_once(db, redis):
                    await asyncio.sleep(poll_s)
            except Exception:  # keep relaying; the error is logged with its traceback
                log.exception("relay failed; retrying")
                await asyncio.sleep(1)

    async def consume_loop() -> None:
        while True:
            try:
                await consume_once(db, redis, consumer)
            except Exception:
                log.exception("fan-out batch failed; it stays pending and is retried")
                await asyncio.sleep(1)

    await asyncio.gather(relay_loop(), consume_loop())
