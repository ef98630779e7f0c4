"""The fan-out's priority lane: safety reports, emergency alerts, and the mixed home items.

A safety report is delivered like a check-in (ZADD by id to each recipient's home timeline, the
public stream if public, a live announcement), to its author, all their friends (or the circles
named) and, if public, their followers. Home timelines hold both kinds of id (ids are unique
across tables), rendered here with `kind` on each item.
"""

from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from geo.checkins import presence
from geo.checkins import service as checkins
from geo.core.auth import Actor
from geo.core.db import Database
from geo.core.errors import NotFound
from geo.core.redis import RedisClient
from geo.emergencies import areas
from geo.emergencies import safety as reports
from geo.emergencies import service as emergencies
from geo.fanout.feed_store import FeedStore
from geo.outbox.events import EMERGENCY_DECLARED, SAFETY_CREATED
from geo.social import service as social


async def handle_priority(
    session: AsyncSession, redis: RedisClient, topic: str, payload: dict[str, Any]
) -> None:
    if topic == SAFETY_CREATED:
        await deliver_report(session, redis, int(payload["report_id"]))
        return
    # Declared or changed: every process re-reads the active areas (ads stand down there).
    await areas.bump_version(redis)
    if topic == EMERGENCY_DECLARED:
        await alert_last_seen_inside(session, redis, int(payload["emergency_id"]))


async def report_recipients(session: AsyncSession, facts: reports.ReportFacts) -> list[int]:
    audience = {facts.author_id}
    if facts.circle_ids is None:
        audience.update(await social.all_friends(session, account_id=facts.author_id))
    elif facts.circle_ids:
        audience.update(
            await social.circle_audience(
                session, author_id=facts.author_id, circle_ids=facts.circle_ids
            )
        )
    if facts.public:
        audience.update(await social.followers(session, account_id=facts.author_id))
    return sorted(audience)


async def deliver_report(session: AsyncSession, redis: RedisClient, report_id: int) -> None:
    facts = (await reports.delivery_facts_many(session, [report_id])).get(report_id)
    if facts is None:
        return  # gone (its author was erased): done
    audience = await report_recipients(session, facts)
    await FeedStore(redis).push_many([(report_id, audience, facts.public)])


async def redeliver_reports(session: AsyncSession, redis: RedisClient, *, batch: int) -> int:
    """Deliver every stored report again, oldest first, without announcing (a rebuild)."""
    after, done, feeds = 0, 0, FeedStore(redis)
    while ids := await reports.ids_after(session, after, batch):
        facts = await reports.delivery_facts_many(session, ids)
        await feeds.push_many(
            [(i, await report_recipients(session, f), f.public) for i, f in facts.items()],
            announce=False,
        )
        after, done = ids[-1], done + len(ids)
    return done


async def alert_last_seen_inside(
    session: AsyncSession, redis: RedisClient, emergency_id: int
) -> None:
    """Alert the open home streams of accounts whose last check-in lies in the new area."""
    try:
        row = await emergencies.get_row(session, emergency_id)
    except NotFound:
        return
    if not emergencies.is_active(row):
        return
    accounts = await presence.last_inside(
        session, area=row.area_geojson, since=emergencies.lookback_start(row)
    )
    await FeedStore(redis).announce_emergency(emergency_id, accounts)


async def emergency_event(db: Database, emergency_id: int) -> bytes | None:
    """The `event: emergency` frame of a live alert (None: the emergency is gone or over)."""
    assert db.read_sessionmaker is not None  # a read: no transaction round trips
    async with db.read_sessionmaker() as session:
        try:
            row = await emergencies.get_row(session, emergency_id)
        except NotFound:
            return None
    if not emergencies.is_active(row):
        return None
    body = orjson.dumps(emergencies.emergency_read(row).model_dump(mode="json"))
    return b"id: e%d\nevent: emergency\ndata: %s\n\n" % (emergency_id, body)


async def render_home(
    session: AsyncSession, *, actor: Actor, ids: list[int]
) -> list[dict[str, Any]]:
    """Timeline ids (check-ins and safety reports) this viewer may still see, newest first, each
    with its `kind`."""
    # Home pages and the live stream mix both kinds, merged by id as JSON-ready values.
    items = [
        {**item.model_dump(mode="json"), "kind": "checkin"}
        for item in await checkins.render_visible(session, actor=actor, ids=ids)
    ]
    found = {int(i["id"]) for i in items}
    rest = [i for i in ids if i not in found]
    if rest:
        items += [
            r.model_dump(mode="json")
            for r in await reports.render_visible(session, actor=actor, ids=rest)
        ]
        items.sort(key=lambda i: int(i["id"]), reverse=True)
    return items


async def local_public(
    session: AsyncSession,
    *,
    actor: Actor,
    lat: float,
    lon: float,
    radius_m: float,
    limit: int,
    before: int | None,
) -> list[dict[str, Any]]:
    """The local public stream: public check-ins and safety reports placed (at the precision the
    public may know) within radius_m of the point, newest first, each with its `kind`. Both
    tables share one id sequence, so merging by id keeps one order and one cursor."""
    found_checkins = await checkins.local_public(
        session, actor=actor, lat=lat, lon=lon, radius_m=radius_m, limit=limit, before=before
    )
    found_reports = await reports.local_public(
        session, actor=actor, lat=lat, lon=lon, radius_m=radius_m, limit=limit, before=before
    )
    items = [{**c.model_dump(mode="json"), "kind": "checkin"} for c in found_checkins]
    items += [r.model_dump(mode="json") for r in found_reports]
    items.sort(key=lambda i: int(i["id"]), reverse=True)
    return items[:limit]


async def split_home_ids(session: AsyncSession, ids: list[int]) -> tuple[list[int], list[int]]:
    return await reports.split_home_ids(session, ids)


async def not_for_home(
    session: AsyncSession, *, viewer_id: int, author_id: int, ids: list[int]
) -> list[int]:
    return await reports.not_for_home(session, viewer_id=viewer_id, author_id=author_id, ids=ids)
