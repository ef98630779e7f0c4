"""Background loops: the outbox relay and the stream consumers (a consumer group).

Workers acknowledge an event after all its writes, and reclaim what a dead consumer left pending.
"""

import asyncio
import json
import logging
import os
import socket
from typing import Any, cast

from redis.exceptions import ResponseError

from geo.core.db import Database
from geo.core.metrics import OUTBOX_BACKLOG
from geo.core.redis import RedisClient
from geo.fanout import keys, service
from geo.outbox.repository import OutboxRepository

log = logging.getLogger("geo.fanout.worker")
RECLAIM_IDLE_MS = 30_000
# Chunks of big deliveries (1,000 recipients each) taken per batch beside main-stream events, and
# when the main stream is empty.
BULK_BESIDE, BULK_ALONE = 1, 4


async def ensure_group(redis: RedisClient) -> None:
    for stream in (keys.STREAM, keys.BULK, keys.PRIORITY):
        try:
            await redis.xgroup_create(stream, keys.GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


async def relay_once(db: Database, redis: RedisClient) -> int:
    async with db.sessionmaker() as session, session.begin():
        moved = await service.relay_outbox(session, redis)
        OUTBOX_BACKLOG.set(await OutboxRepository(session).backlog())
    return moved


async def _take(
    redis: RedisClient, stream: str, consumer: str, count: int, block_ms: int | None = None
) -> list[Any]:
    """What others left pending too long first, then new entries."""
    _, claimed, _ = await redis.xautoclaim(
        stream, keys.GROUP, consumer, min_idle_time=RECLAIM_IDLE_MS, count=count
    )
    if claimed:
        return cast(list[Any], claimed)
    reply = await redis.xreadgroup(keys.GROUP, consumer, {stream: ">"}, count=count, block=block_ms)
    # RESP2 replies: [[stream, entries]].
    return cast(list[Any], reply)[0][1] if reply else []


async def consume_once(
    db: Database, redis: RedisClient, consumer: str, *, block_ms: int = 1000, count: int = 100
) -> int:
    """Handle one batch: the priority lane, main-stream events, then a few chunks of big
    deliveries."""
    priority = await consume_priority_once(db, redis, consumer, block_ms=None)
    main = await _take(redis, keys.STREAM, consumer, count)
    bulk = await _take(redis, keys.BULK, consumer, BULK_BESIDE if main else BULK_ALONE)
    if not main and not bulk:
        main = await _take(redis, keys.STREAM, consumer, count, block_ms=block_ms)
    events = [
        (fields[b"topic"].decode(), json.loads(fields[b"payload"]))
        for _, fields in main + bulk
        if fields
    ]  # no fields: trimmed away while pending
    if events:
        async with db.sessionmaker() as session, session.begin():
            await service.handle_batch(session, redis, events)
    # One XACK per stream, after all the batch's writes: a crash before it redelivers the whole
    # batch, which the idempotent writes absorb.
    for stream, entries in ((keys.STREAM, main), (keys.BULK, bulk)):
        if entries:
            await redis.xack(stream, keys.GROUP, *[entry_id for entry_id, _ in entries])
    return priority + len(main) + len(bulk)


async def consume_priority_once(
    db: Database, redis: RedisClient, consumer: str, *, block_ms: int | None = 1000
) -> int:
    """Handle the priority lane's waiting entries (safety reports, emergency alerts) in their own
    transaction, so they never wait for a batch of ordinary check-ins."""
    entries = await _take(redis, keys.PRIORITY, consumer, 100, block_ms=block_ms)
    events = [
        (fields[b"topic"].decode(), json.loads(fields[b"payload"]))
        for _, fields in entries
        if fields
    ]
    if events:
        async with db.sessionmaker() as session, session.begin():
            await service.handle_batch(session, redis, events)
    if entries:
        await redis.xack(keys.PRIORITY, keys.GROUP, *[entry_id for entry_id, _ in entries])
    return len(entries)


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


async def run_forever(db: Database, redis: RedisClient, *, poll_s: float = 0.05) -> None:
    # An idle relay polls every poll_s: that is the floor of the delivery lag (half of it on
    # average); an empty poll is one short transaction on a partial index.
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

    async def priority_loop() -> None:
        # Its own loop (and consumer name), blocked on the priority stream alone: a safety report
        # is taken while the other loop is busy with a batch of ordinary check-ins.
        while True:
            try:
                await consume_priority_once(db, redis, f"{consumer}-priority")
            except Exception:
                log.exception("priority batch failed; it stays pending and is retried")
                await asyncio.sleep(1)

    async def consume_loop() -> None:
        while True:
            try:
                await consume_once(db, redis, consumer)
            except Exception:
                log.exception("fan-out batch failed; it stays pending and is retried")
                await asyncio.sleep(1)

    await asyncio.gather(relay_loop(), priority_loop(), consume_loop())
