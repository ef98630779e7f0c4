"""The fan-out, read like a table of contents: relay committed events, deliver, retract."""

import json
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from geo.checkins import service as checkins
from geo.core.redis import RedisClient
from geo.fanout import keys
from geo.fanout.feed_store import FeedStore
from geo.fanout.outbox import ACCESS_REVOKED
from geo.fanout.repository import OutboxRepository
from geo.social import service as social

log = logging.getLogger("geo.fanout")


async def relay_outbox(session: AsyncSession, redis: RedisClient, *, limit: int = 500) -> int:
    """Move committed outbox rows to the stream, in order, then mark them sent.

    A crash between XADD and the commit resends those rows; delivery is idempotent.
    """
    outbox = OutboxRepository(session)
    rows = await outbox.claim_unsent(limit)
    if not rows:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for _, topic, payload in rows:
            pipe.xadd(keys.STREAM, {"topic": topic, "payload": json.dumps(payload)},
                      maxlen=keys.STREAM_CAP, approximate=True)
        await pipe.execute()
    await outbox.mark_sent([r[0] for r in rows])
    return len(rows)


async def handle_event(session: AsyncSession, redis: RedisClient, topic: str,
                       payload: dict[str, Any]) -> None:
    if topic == "checkin.created":
        await deliver(session, redis, int(payload["checkin_id"]))
    elif topic == "checkin.deleted":
        await retract(session, redis, int(payload["checkin_id"]),
                      author_id=int(payload["author_id"]),
                      circle_ids=[int(c) for c in payload["circle_ids"]],
                      public=bool(payload["public"]))
    elif topic == ACCESS_REVOKED:
        await revoke(session, redis, author_id=int(payload["author_id"]),
                     viewer_ids=[int(v) for v in payload["viewer_ids"]])
    else:
        log.warning("fan-out: unknown topic %r ignored", topic)


async def recipients(session: AsyncSession, *, author_id: int, circle_ids: list[int],
                     public: bool) -> list[int]:
    audience = {author_id}
    if circle_ids:
        audience.update(await social.circle_audience(session, author_id=author_id,
                                                     circle_ids=circle_ids))
    if public:
        audience.update(await social.followers(session, account_id=author_id))
    return sorted(audience)


async def deliver(session: AsyncSession, redis: RedisClient, checkin_id: int, *,
                  announce: bool = True) -> None:
    facts = await checkins.delivery_facts(session, checkin_id)
    if facts is None:  # deleted before we got to it: nothing to deliver
        return
    feeds = FeedStore(redis)
    await feeds.push_home(checkin_id, await recipients(
        session, author_id=facts.author_id, circle_ids=facts.circle_ids, public=facts.public),
        announce=announce)
    if facts.public:
        await feeds.push_public(checkin_id)


async def retract(session: AsyncSession, redis: RedisClient, checkin_id: int, *, author_id: int,
                  circle_ids: list[int], public: bool) -> None:
    feeds = FeedStore(redis)
    await feeds.remove_home(checkin_id, await recipients(
        session, author_id=author_id, circle_ids=circle_ids, public=public))
    await feeds.remove_public(checkin_id)


async def revoke(session: AsyncSession, redis: RedisClient, *, author_id: int,
                 viewer_ids: list[int]) -> None:
    """After a graph change: take out of each viewer's home timeline the author's check-ins they no
    longer receive (and any deleted ones), telling their open streams. Idempotent."""
    feeds = FeedStore(redis)
    for viewer_id in viewer_ids:
        stale = await checkins.not_for_home(session, viewer_id=viewer_id, author_id=author_id,
                                            ids=await feeds.home_ids(viewer_id))
        await feeds.remove_from_home(viewer_id, stale)


async def rebuild_feeds(session: AsyncSession, redis: RedisClient, *, batch: int = 1000) -> int:
    """Re-deliver every stored check-in, oldest first, into the feeds (after Redis lost them).

    ZADD by id and the same caps make this converge to what the fan-out writes; audiences are
    resolved with today's graph, and reads re-check visibility either way.
    """
    after, done = 0, 0
    while ids := await checkins.ids_after(session, after, batch):
        for checkin_id in ids:
            await deliver(session, redis, checkin_id, announce=False)
        after, done = ids[-1], done + len(ids)
    return done
