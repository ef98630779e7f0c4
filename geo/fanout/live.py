"""Server-Sent Events of a home timeline: each new item as it is delivered (`event: checkin`),
and each item taken out of it (`event: delete`, data `{"id"}`): a deleted check-in, or one the
account no longer receives after an unfriend, a circle removal, a block or an unfollow. An
emergency declared where the account last checked in comes as `event: emergency`.

Each announced id is re-checked for visibility when it is sent, so an unfriend or a block cuts
the stream of the other's check-ins at once, even before the retraction is fanned out.
"""

import asyncio
import time
from collections.abc import AsyncIterator

import orjson

from geo.core.auth import Actor
from geo.core.db import Database
from geo.core.redis import RedisClient
from geo.fanout import safety
from geo.fanout.feed_store import FeedStore

KEEPALIVE_S = 15.0


async def home_events(
    db: Database,
    redis: RedisClient,
    actor: Actor,
    *,
    max_seconds: float,
    max_events: int | None = None,
) -> AsyncIterator[bytes]:
    sent, deadline = 0, time.monotonic() + max_seconds
    async with FeedStore(redis).live_home(actor.id) as live:
        yield b": connected\n\n"
        while time.monotonic() < deadline and (max_events is None or sent < max_events):
            wait = min(KEEPALIVE_S, max(0.0, deadline - time.monotonic()))
            started = time.monotonic()
            data = await live.next_message(wait)
            if data is None:
                # None also stands for a skipped subscribe confirmation: only a real wait is idle.
                if time.monotonic() - started >= wait:
                    yield b": keepalive\n\n"
                continue
            if data.startswith(b"-"):
                # A retraction (deleted, or no longer this account's): the client drops the item.
                sent += 1
                yield b'event: delete\ndata: {"id":"%d"}\n\n' % int(data[1:])
                continue
            if data.startswith(b"e"):
                alert = await safety.emergency_event(db, int(data[1:]))
                if alert is not None:
                    sent += 1
                    yield alert
                continue
            checkin_id = int(data)
            assert db.read_sessionmaker is not None  # a read: no transaction round trips
            async with db.read_sessionmaker() as session:
                items = await safety.render_home(session, actor=actor, ids=[checkin_id])
            for item in items:
                sent += 1
                yield b"id: %d\nevent: checkin\ndata: %s\n\n" % (checkin_id, orjson.dumps(item))
            await asyncio.sleep(0)
