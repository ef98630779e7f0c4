"""The ledger writer: impression and holdout events from the ads streams into PostgreSQL.

A consumer group over the shard streams; each batch is inserted in one transaction (idempotent by
impression id, so a batch redelivered after a crash inserts nothing twice), then acknowledged and
deleted from the stream. What a dead consumer left pending is reclaimed after RECLAIM_IDLE_MS.
"""

import asyncio
import logging
import os
import socket
import time
from datetime import UTC, datetime
from typing import Any, cast

from redis.exceptions import ResponseError

from geo.ads import keys
from geo.ads.decision import AdsEngine
from geo.ads.ledger_repository import LedgerRepository
from geo.core.config import Settings, get_settings
from geo.core.db import Database
from geo.core.redis import RedisClient

log = logging.getLogger("geo.ads.worker")
RECLAIM_IDLE_MS = 30_000
RECLAIM_EVERY_S = 10.0
PRIME_EVERY_S = 60.0

Entry = tuple[bytes, dict[bytes, bytes]]


async def ensure_groups(redis: RedisClient) -> None:
    """Create the group on every shard stream (from the start, so nothing added before counts
    as read); needed again after Redis lost its data."""
    for stream in keys.all_event_streams():
        try:
            await redis.xgroup_create(stream, keys.LEDGER_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


def _row(fields: dict[bytes, bytes]) -> dict[str, Any]:
    return {
        "kind": fields[b"k"].decode(),
        "id": int(fields[b"id"]),
        "campaign_id": int(fields[b"c"]),
        "viewer_id": int(fields[b"v"]),
        "at": datetime.fromtimestamp(int(fields[b"t"]) / 1000, UTC),
        "lat": float(fields[b"lat"]),
        "lon": float(fields[b"lon"]),
        "distance_m": float(fields[b"d"]),
        "cost": int(fields[b"cost"]),
    }


async def write_batch(db: Database, redis: RedisClient, batch: dict[str, list[Entry]]) -> int:
    """Commit one batch to the ledger, then acknowledge and delete it from its streams."""
    rows = [_row(fields) for entries in batch.values() for _, fields in entries if fields]
    if rows:
        async with db.sessionmaker() as session, session.begin():
            repo = LedgerRepository(session)
            await repo.insert_impressions([r for r in rows if r["kind"] == "i"])
            await repo.insert_holdouts([r for r in rows if r["kind"] == "h"])
    async with redis.pipeline(transaction=False) as pipe:
        for stream, entries in batch.items():
            ids = [entry_id for entry_id, _ in entries]
            if ids:
                pipe.xack(stream, keys.LEDGER_GROUP, *ids)
                pipe.xdel(stream, *ids)
        await pipe.execute()
    return len(rows)


async def read_batch(
    redis: RedisClient, consumer: str, *, block_ms: int | None, count: int
) -> dict[str, list[Entry]]:
    streams = {stream: ">" for stream in keys.all_event_streams()}
    try:
        reply = await redis.xreadgroup(
            keys.LEDGER_GROUP,
            consumer,
            streams,  # type: ignore[arg-type]
            count=count,
            block=block_ms,
        )
    except ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        await ensure_groups(redis)  # Redis lost its data (and the group with it)
        return {}
    streams_read = cast(list[tuple[bytes, list[Entry]]], reply or [])
    return {name.decode(): entries for name, entries in streams_read}


async def reclaim(
    redis: RedisClient, consumer: str, *, count: int, min_idle_ms: int = RECLAIM_IDLE_MS
) -> dict[str, list[Entry]]:
    batch: dict[str, list[Entry]] = {}
    for stream in keys.all_event_streams():
        try:
            _, claimed, *_ = await redis.xautoclaim(
                stream, keys.LEDGER_GROUP, consumer, min_idle_time=min_idle_ms, count=count
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            continue
        if claimed:
            batch[stream] = claimed
    return batch


async def drain(db: Database, redis: RedisClient, consumer: str = "inline") -> int:
    """Write everything in the streams to the ledger (tests and the CLI use it)."""
    await ensure_groups(redis)
    written = await write_batch(
        db, redis, await reclaim(redis, consumer, count=1000, min_idle_ms=0)
    )
    while batch := await read_batch(redis, consumer, block_ms=None, count=1000):
        written += await write_batch(db, redis, batch)
    return written


async def run_forever(
    db: Database,
    redis: RedisClient,
    *,
    settings: Settings | None = None,
    block_ms: int = 1000,
    count: int = 500,
) -> None:
    """Write the ledger; every PRIME_EVERY_S also lease a first chunk to live campaigns that have
    none for their current day (a new local day, or Redis lost its data)."""
    consumer = f"ads-{socket.gethostname()}-{os.getpid()}"
    settings = settings or get_settings()
    engine = AdsEngine.create(db, redis, settings)
    await ensure_groups(redis)
    last_reclaim = last_prime = 0.0
    while True:
        try:
            if settings.ads_enabled and time.monotonic() - last_prime > PRIME_EVERY_S:
                last_prime = time.monotonic()
                await engine.prime()
            if time.monotonic() - last_reclaim > RECLAIM_EVERY_S:
                last_reclaim = time.monotonic()
                await write_batch(db, redis, await reclaim(redis, consumer, count=count))
            await write_batch(
                db, redis, await read_batch(redis, consumer, block_ms=block_ms, count=count)
            )
        except asyncio.CancelledError:
            raise
        except Exception:  # the batch stays pending and is retried; the error is logged
            log.exception("ads ledger batch failed; retrying")
            await asyncio.sleep(1)
