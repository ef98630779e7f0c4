"""The fan-out, read like a table of contents: relay committed events, deliver, retract."""

import json
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from geo.checkins import service as checkins
from geo.core.redis import RedisClient
from geo.fanout import keys
from geo.fanout.feed_store import FeedStore
from geo.fanout.repository import OutboxRepository
from geo.fanout.stream import CHUNK, DELIVER_TOPIC, split_delivery
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
    checkin_id = int(payload["checkin_id"])
    if topic == "checkin.created":
        await deliver(session, redis, checkin_id, split=True)
    elif topic == DELIVER_TOPIC:
        await deliver_chunk(session, redis, checkin_id,
                            [int(r) for r in payload["recipients"]])
    elif topic == "checkin.deleted":
        await retract(session, redis, checkin_id, author_id=int(payload["author_id"]),
                      circle_ids=[int(c) for c in payload["circle_ids"]],
                      public=bool(payload["public"]))
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
                  announce: bool = True, split: bool = False) -> None:
    """Deliver to the whole audience; with `split`, an audience over CHUNK recipients becomes
    chunk entries at the stream's tail instead (delivered by `deliver_chunk`)."""
    facts = await checkins.delivery_facts(session, checkin_id)
    if facts is None:  # deleted before we got to it: nothing to deliver
        return
    feeds = FeedStore(redis)
    if facts.public:
        await feeds.push_public(checkin_id)
    audience = await recipients(session, author_id=facts.author_id,
                                circle_ids=facts.circle_ids, public=facts.public)
    if split and len(audience) > CHUNK:
        # The author sees their own check-in at once; everyone else gets it chunk by chunk.
        await feeds.push_home(checkin_id, [facts.author_id], announce=announce)
        await split_delivery(redis, checkin_id, [r for r in audience if r != facts.author_id])
    else:
        await feeds.push_home(checkin_id, audience, announce=announce)


async def deliver_chunk(session: AsyncSession, redis: RedisClient, checkin_id: int,
                        chunk: list[int]) -> None:
    """One chunk of a split delivery; the check-in is re-read so a deleted one is not revived."""
    if await checkins.delivery_facts(session, checkin_id) is None:
        return
    await FeedStore(redis).push_home(checkin_id, chunk)


async def retract(session: AsyncSession, redis: RedisClient, checkin_id: int, *, author_id: int,
                  circle_ids: list[int], public: bool) -> None:
    feeds = FeedStore(redis)
    await feeds.remove_home(checkin_id, await recipients(
        session, author_id=author_id, circle_ids=circle_ids, public=public))
    await feeds.remove_public(checkin_id)


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
