"""Redis is not the source of truth: after FLUSHDB the feeds are rebuilt to what they were."""

import pytest

from geo.fanout import keys
from geo.fanout.service import rebuild_feeds
from geo.fanout.worker import drain
from tests.checkins.factories import post_checkin

pytestmark = pytest.mark.redis_cluster


async def _snapshot(redis, account_ids) -> dict:
    snap = {a: await redis.zrange(keys.home(a), 0, -1, withscores=True) for a in account_ids}
    snap["public"] = await redis.zrange(keys.public_global(), 0, -1, withscores=True)
    return snap


async def test_flush_then_rebuild_restores_every_feed(app, client, redis, session, world):
    await client.post(f"/v1/follows/{world['author']['id']}", headers=world["follower"]["headers"])
    for i, audience in enumerate(
        [
            {"circles": [world["circle"]["id"]]},
            {"public": True},
            {"circles": [world["circle"]["id"]], "public": True},
            {},
        ]
    ):
        await post_checkin(
            client, world["author"], world["place"], audience=audience, message=f"{i}"
        )
    await drain(app.state.db, redis)
    people = [int(world[w]["id"]) for w in ("author", "friend", "follower", "stranger")]
    before = await _snapshot(redis, people)
    assert len(before[int(world["friend"]["id"])]) == 2
    assert len(before[int(world["follower"]["id"])]) == 2

    await redis.flushdb()
    assert await redis.zcard(keys.home(int(world["author"]["id"]))) == 0
    assert await rebuild_feeds(session, redis) == 4
    assert await _snapshot(redis, people) == before
