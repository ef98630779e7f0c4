"""The fan-out, read like a table of contents: relay committed events, deliver, retract."""

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from geo.checkins import service as checkins
from geo.core.redis import RedisClient
from geo.fanout import keys, safety
from geo.fanout.feed_store import FeedStore
from geo.fanout.stream import CHUNK, DELIVER_TOPIC, split_delivery
from geo.outbox.events import (
    ACCESS_REVOKED,
    ACCOUNT_ERASED,
    CHECKIN_CREATED,
    CHECKIN_DELETED,
    PRIORITY_TOPICS,
)
from geo.outbox.repository import OutboxRepository
from geo.social import service as social

log = logging.getLogger("geo.fanout")


async def relay_outbox(session: AsyncSession, redis: RedisClient, *, limit: int = 500) -> int:
    """Move committed outbox rows to the stream, in order, then mark them sent.

    A crash between XADD and the commit resends those rows; delivery is idempotent.
    """
    outbox = OutboxRepository(session)
    # The priority lane first: a backlog of ordinary check-ins must not hold up a safety report.
    rows = await outbox.claim_unsent_priority(PRIORITY_TOPICS, limit)
    claimed = {r[0] for r in rows}
    rows += [r for r in await outbox.claim_unsent(limit) if r[0] not in claimed]
    if not rows:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for _, topic, payload in rows:
            pipe.xadd(
                keys.PRIORITY if topic in PRIORITY_TOPICS else keys.STREAM,
                {"topic": topic, "payload": payload},  # JSON text already
                maxlen=keys.STREAM_CAP,
                approximate=True,
            )
        await pipe.execute()
    await outbox.mark_sent([r[0] for r in rows])
    return len(rows)


async def handle_batch(
    session: AsyncSession, redis: RedisClient, events: list[tuple[str, dict[str, Any]]]
) -> None:
    """Handle a batch of stream events in order. Runs of deliveries (new check-ins and chunks)
    are handled together: one query per kind of fact and shared pipelines for the whole run;
    their ZADDs commute, and a retraction is never moved across them."""
    run: list[tuple[str, dict[str, Any]]] = []
    for topic, payload in events:
        if topic in (CHECKIN_CREATED, DELIVER_TOPIC):
            run.append((topic, payload))
            continue
        await _deliver_run(session, redis, run)
        run = []
        await handle_event(session, redis, topic, payload)
    await _deliver_run(session, redis, run)


async def handle_event(
    session: AsyncSession, redis: RedisClient, topic: str, payload: dict[str, Any]
) -> None:
    if topic in (CHECKIN_CREATED, DELIVER_TOPIC):
        await _deliver_run(session, redis, [(topic, payload)])
    elif topic == CHECKIN_DELETED:
        await retract(
            session,
            redis,
            int(payload["checkin_id"]),
            author_id=int(payload["author_id"]),
            circle_ids=[int(c) for c in payload["circle_ids"]],
            public=bool(payload["public"]),
        )
    elif topic == ACCESS_REVOKED:
        await revoke(
            session,
            redis,
            author_id=int(payload["author_id"]),
            viewer_ids=[int(v) for v in payload["viewer_ids"]],
        )
    elif topic == ACCOUNT_ERASED:
        await FeedStore(redis).drop_home(int(payload["account_id"]))
    elif topic in PRIORITY_TOPICS:
        await safety.handle_priority(session, redis, topic, payload)
    else:
        log.warning("fan-out: unknown topic %r ignored", topic)


async def _deliver_run(
    session: AsyncSession, redis: RedisClient, run: list[tuple[str, dict[str, Any]]]
) -> None:
    created = [int(p["checkin_id"]) for t, p in run if t == CHECKIN_CREATED]
    chunks = [
        (int(p["checkin_id"]), [int(r) for r in p["recipients"]])
        for t, p in run
        if t == DELIVER_TOPIC
    ]
    if not run:
        return
    # Chunks re-read their check-in too, so a deleted one is not revived.
    alive = await checkins.delivery_facts_many(session, created + [c for c, _ in chunks])
    deliveries = await _deliveries(
        session, redis, {c: alive[c] for c in created if c in alive}, split=True
    )
    deliveries += [(c, chunk, False) for c, chunk in chunks if c in alive]
    await FeedStore(redis).push_many(deliveries)


async def recipients(
    session: AsyncSession,
    *,
    author_id: int,
    circle_ids: list[int],
    public: bool,
    followers: list[int] | None = None,
) -> list[int]:
    """Who gets a check-in: the author, the circles' audience, and followers if it is public
    (`followers` when already known)."""
    audience = {author_id}
    if circle_ids:
        audience.update(
            await social.circle_audience(session, author_id=author_id, circle_ids=circle_ids)
        )
    if public:
        audience.update(
            followers
            if followers is not None
            else await social.followers(session, account_id=author_id)
        )
    return sorted(audience)


async def _deliveries(
    session: AsyncSession,
    redis: RedisClient,
    facts: dict[int, checkins.DeliveryFacts],
    *,
    split: bool,
) -> list[tuple[int, list[int], bool]]:
    """(check-in, recipients, public) to push; with `split`, an audience over CHUNK recipients
    becomes chunk entries at the stream's tail instead (only its author is pushed now)."""
    followers = await social.followers_of_many(
        session, account_ids=sorted({f.author_id for f in facts.values() if f.public})
    )
    deliveries = []
    for checkin_id, f in facts.items():
        audience = await recipients(
            session,
            author_id=f.author_id,
            circle_ids=f.circle_ids,
            public=f.public,
            followers=followers.get(f.author_id, []),
        )
        if split and len(audience) > CHUNK:
            # The author sees their own check-in at once; everyone else gets it chunk by chunk.
            await split_delivery(redis, checkin_id, [r for r in audience if r != f.author_id])
            audience = [f.author_id]
        deliveries.append((checkin_id, audience, f.public))
    return deliveries


async def deliver(
    session: AsyncSession, redis: RedisClient, checkin_id: int, *, announce: bool = True
) -> None:
    """Deliver one check-in to its whole audience at once (no chunks)."""
    facts = await checkins.delivery_facts_many(session, [checkin_id])
    await FeedStore(redis).push_many(
        await _deliveries(session, redis, facts, split=False), announce=announce
    )


async def retract(
    session: AsyncSession,
    redis: RedisClient,
    checkin_id: int,
    *,
    author_id: int,
    circle_ids: list[int],
    public: bool,
) -> None:
    feeds = FeedStore(redis)
    await feeds.remove_home(
        checkin_id,
        await recipients(session, author_id=author_id, circle_ids=circle_ids, public=public),
    )
    await feeds.remove_public(checkin_id)


async def revoke(
    session: AsyncSession, redis: RedisClient, *, author_id: int, viewer_ids: list[int]
) -> None:
    """After a graph change: take out of each viewer's home timeline the author's check-ins they no
    longer receive (and any deleted ones), telling their open streams. Idempotent."""
    feeds = FeedStore(redis)
    for viewer_id in viewer_ids:
        reports, others = await safety.split_home_ids(session, await feeds.home_ids(viewer_id))
        stale = await checkins.not_for_home(
            session, viewer_id=viewer_id, author_id=author_id, ids=others
        )
        stale += await safety.not_for_home(
            session, viewer_id=viewer_id, author_id=author_id, ids=reports
        )
        await feeds.remove_from_home(viewer_id, stale)


async def rebuild_feeds(session: AsyncSession, redis: RedisClient, *, batch: int = 1000) -> int:
    """Re-deliver every stored check-in and safety report, oldest first, into the feeds (after
    Redis lost them); returns how many items.

    ZADD by id and the same caps make this converge to what the fan-out writes; audiences are
    resolved with today's graph, and reads re-check visibility either way.
    """
    after, done, feeds = 0, 0, FeedStore(redis)
    while ids := await checkins.ids_after(session, after, batch):
        facts = await checkins.delivery_facts_many(session, ids)
        await feeds.push_many(await _deliveries(session, redis, facts, split=False), announce=False)
        after, done = ids[-1], done + len(ids)
    return done + await safety.redeliver_reports(session, redis, batch=batch)
