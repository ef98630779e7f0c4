"""Server-Sent Events of a home timeline: each new item as it is delivered (`event: checkin`),
and each item taken out of it (`event: delete`, data `{"id"}`): a deleted check-in, or one the
account no longer receives after an unfriend, a circle removal, a block or an unfollow. A delete
is announced only to accounts whose timeline held the item (see FeedStore.remove_home). An
emergency declared where the account last checked in comes as `event: emergency`.

Each announced id is re-checked for visibility when it is sent, so an unfriend or a block cuts
the stream of the other's check-ins at once, even before the retraction is fanned out.

Streams listen through the process's LiveHub (one Redis connection for all of them). When the hub
reports a GAP (a reconnect, or this stream fell too far behind), the stream re-reads its home
timeline for items newer than the last it sent, so a Redis restart loses no check-in (deletes
meanwhile are lost; a reader re-checks visibility anyway).

A new kind of event is a new live message prefix handled in `_frames`.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.exceptions import RedisError

from geo.core.auth import Actor
from geo.core.db import Database
from geo.core.ids import id_floor_for
from geo.core.redis import RedisClient
from geo.fanout import keys, safety
from geo.fanout.feed_store import FeedStore
from geo.fanout.live_hub import GAP
from geo.fanout.stream_slots import StreamSlot

log = logging.getLogger("geo.fanout.live")

KEEPALIVE_S = 15.0
LISTEN_REFRESH_S = keys.LISTEN_REFRESH_S
CATCH_UP = 100  # after a gap, at most this many newer home items are re-sent


def sse(event: str, data: Any, *, event_id: int | None = None) -> bytes:
    head = b"id: %d\n" % event_id if event_id is not None else b""
    return head + b"event: %s\ndata: %s\n\n" % (event.encode(), orjson.dumps(data))


class _HomeStream:
    """What one stream has sent, and how to turn a live message into SSE frames."""

    def __init__(self, db: Database, feeds: FeedStore, actor: Actor) -> None:
        self.db, self.feeds, self.actor = db, feeds, actor
        # Items made before the stream opened were for the client's first page read, not for us.
        self.newest = id_floor_for(datetime.now(UTC))

    async def frames(self, data: bytes) -> list[bytes]:
        if data == GAP:
            ids = await self.feeds.read_home(self.actor.id, limit=CATCH_UP, before=None)
            return await self._checkins([i for i in ids if i > self.newest])
        if data.startswith(b"-"):
            # A retraction: the client drops the item. Sent to this account's channel only.
            return [b'event: delete\ndata: {"id":"%d"}\n\n' % int(data[1:])]
        if data.startswith(b"e"):
            alert = await safety.emergency_event(self.db, int(data[1:]))
            return [alert] if alert is not None else []
        return await self._checkins([int(data)])

    async def _checkins(self, ids: list[int]) -> list[bytes]:
        if not ids:
            return []
        assert self.db.read_sessionmaker is not None  # a read: no transaction round trips
        async with self.db.read_sessionmaker() as session:
            items = await safety.render_home(session, actor=self.actor, ids=ids)
        frames = []
        for item in reversed(items):  # oldest first, as they were delivered
            checkin_id = int(item["id"])
            self.newest = max(self.newest, checkin_id)
            frames.append(sse("checkin", item, event_id=checkin_id))
        return frames


async def home_events(
    db: Database,
    redis: RedisClient,
    actor: Actor,
    *,
    max_seconds: float,
    max_events: int | None = None,
    slot: StreamSlot | None = None,
) -> AsyncIterator[bytes]:
    """The stream's bytes; `slot` (this stream's claim on the account's limit) is kept while it
    runs and given back when it ends."""
    feeds = FeedStore(redis)
    stream = _HomeStream(db, feeds, actor)
    sent, deadline = 0, time.monotonic() + max_seconds
    if slot is not None:
        slot.keep()
    try:
        async with feeds.live_home(actor.id) as live:
            yield b": connected\n\n"
            listed_until = time.monotonic() + LISTEN_REFRESH_S
            while time.monotonic() < deadline and (max_events is None or sent < max_events):
                if time.monotonic() >= listed_until:
                    await feeds.register_listener(actor.id)
                    listed_until = time.monotonic() + LISTEN_REFRESH_S
                wait = min(KEEPALIVE_S, LISTEN_REFRESH_S, max(0.0, deadline - time.monotonic()))
                data = await live.next_message(wait)
                if data is None:
                    yield b": keepalive\n\n"
                for frame in await stream.frames(data) if data is not None else []:
                    sent += 1
                    yield frame
                await asyncio.sleep(0)
    except (RedisError, TimeoutError, OSError) as exc:
        # Headers are sent: end the stream; EventSource clients reconnect after `retry`.
        log.warning("live: stream of %s ended: %s", actor.id, exc)
        yield b"retry: 5000\n: live updates unavailable\n\n"
    finally:
        if slot is not None:
            await asyncio.shield(_release(slot))


async def _release(slot: StreamSlot) -> None:
    try:
        await slot.release()
    except RedisError as exc:  # it lapses after SLOT_TTL_S instead
        log.warning("live: could not release a stream slot: %s", exc)
