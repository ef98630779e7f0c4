"""Background loops: the outbox relay and the stream consumers (a consumer group).

Workers acknowledge an event after all its writes, and reclaim what a dead consumer left pending.
They outlive Redis outages: a failed round is retried with a growing pause (capped at
BACKOFF_MAX_S), a stream or group that vanished (NOGROUP: Redis came back empty) is recreated in
the running loop, and a Redis that lost its data is repaired by `recovery.recover_if_lost`.
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
from geo.fanout import keys, recovery, service
from geo.outbox.repository import OutboxRepository

log = logging.getLogger("geo.fanout.worker")
RECLAIM_IDLE_MS = 30_000
# Main-stream events taken per batch (at most: a batch is what is waiting). Each batch costs a
# fixed set of round trips (takes, two queries, the last pipeline, XACK): 200 events (~2,300
# deliveries of the real graph) spend ~1 us less CPU per delivery than 100 (bench/fanout_drain.py).
BATCH_EVENTS = 200
# Chunks of big deliveries (1,000 recipients each) taken per batch beside main-stream events, and
# when the main stream is empty.
BULK_BESIDE, BULK_ALONE = 1, 4
BACKOFF_MAX_S = 5.0
WATCH_EVERY_S = 1.0  # how often the epoch is checked: the longest a loss goes unnoticed


async def ensure_group(redis: RedisClient) -> None:
    """Create the streams and the group (from the start, so entries a relay added to a stream
    that Redis recreated empty are read too); a group that exists is left as it is."""
    for stream in (keys.STREAM, keys.BULK, keys.PRIORITY):
        try:
            await redis.xgroup_create(stream, keys.GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


class Backoff:
    """Pauses after failures: 0.1 s doubling to BACKOFF_MAX_S, back to the start on success."""

    def __init__(self) -> None:
        self.pause = 0.0

    def succeeded(self) -> None:
        self.pause = 0.0

    async def failed(self) -> None:
        self.pause = min(BACKOFF_MAX_S, max(0.1, self.pause * 2))
        await asyncio.sleep(self.pause)


async def relay_once(db: Database, redis: RedisClient) -> int:
    async with db.sessionmaker() as session, session.begin():
        moved = await service.relay_outbox(session, redis)
        OUTBOX_BACKLOG.set(await OutboxRepository(session).backlog())
    return moved


async def _take(
    redis: RedisClient, stream: str, consumer: str, count: int, block_ms: int | None = None
) -> list[Any]:
    """What others left pending too long first, then new entries. A missing stream or group
    (Redis came back empty) is recreated here, in the running loop: nothing to take this time."""
    try:
        _, claimed, _ = await redis.xautoclaim(
            stream, keys.GROUP, consumer, min_idle_time=RECLAIM_IDLE_MS, count=count
        )
        if claimed:
            return cast(list[Any], claimed)
        reply = await redis.xreadgroup(
            keys.GROUP, consumer, {stream: ">"}, count=count, block=block_ms
        )
    except ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        log.warning("fan-out stream %s has no group (Redis lost its data?); recreating", stream)
        await ensure_group(redis)
        return []
    # RESP2 replies: [[stream, entries]].
    return cast(list[Any], reply)[0][1] if reply else []


async def consume_once(
    db: Database,
    redis: RedisClient,
    consumer: str,
    *,
    block_ms: int = 1000,
    count: int = BATCH_EVENTS,
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


async def _forever(step, what: str) -> None:  # type: ignore[no-untyped-def]
    """Run `step()` forever; a failure (Redis or PostgreSQL away) is logged and retried after a
    growing pause. `step` returns whether it found work (no work: it paced itself)."""
    backoff = Backoff()
    while True:
        try:
            await step()
            backoff.succeeded()
        except asyncio.CancelledError:
            raise
        except Exception:  # retried; the error is logged with its traceback
            log.exception("%s failed; retrying", what)
            await backoff.failed()


async def run_forever(db: Database, redis: RedisClient, *, poll_s: float = 0.05) -> None:
    # An idle relay polls every poll_s: that is the floor of the delivery lag (half of it on
    # average); an empty poll is one short transaction on a partial index.
    consumer = f"{socket.gethostname()}-{os.getpid()}"

    async def relay() -> None:
        if not await relay_once(db, redis):
            await asyncio.sleep(poll_s)

    async def watch() -> None:
        await recovery.recover_if_lost(db, redis)
        await asyncio.sleep(WATCH_EVERY_S)

    async def priority() -> None:
        # Its own loop (and consumer name), blocked on the priority stream alone: a safety report
        # is taken while the other loop is busy with a batch of ordinary check-ins.
        await consume_priority_once(db, redis, f"{consumer}-priority")

    async def consume() -> None:
        await consume_once(db, redis, consumer)

    # No ensure_group up front: Redis may be down at start; the loops create what is missing.
    await asyncio.gather(
        _forever(watch, "Redis epoch check"),
        _forever(relay, "outbox relay"),
        _forever(priority, "priority batch (it stays pending)"),
        _forever(consume, "fan-out batch (it stays pending)"),
    )
