import asyncio

import pytest

from geo.fanout.live import home_events
from geo.fanout.worker import drain
from tests.checkins.factories import post_checkin

pytestmark = pytest.mark.redis_cluster


async def test_stream_sends_delivered_items_only_while_visible(app, client, redis, world):
    from geo.core.auth import Actor

    friend = Actor(id=int(world["friend"]["id"]), handle=world["friend"]["handle"], kind="member")
    stream = home_events(app.state.db, redis, friend, max_seconds=5, max_events=1)
    # Subscribed once it says connected; the announcement waits in the subscription meanwhile
    # (the test's one database connection cannot serve the stream and the worker at once).
    assert await anext(stream) == b": connected\n\n"
    made = (
        await post_checkin(
            client, world["author"], world["place"], audience={"circles": [world["circle"]["id"]]}
        )
    ).json()
    await drain(app.state.db, redis)
    event = (await asyncio.wait_for(anext(stream), 5)).decode()
    assert event.startswith(f"id: {made['id']}\nevent: checkin\n")
    assert '"audience":"circle"' in event
    await stream.aclose()


async def test_stream_endpoint_needs_a_token(client):
    response = await client.get("/v1/timelines/home/stream")
    assert response.status_code == 401


async def test_deliveries_are_announced_only_to_accounts_with_a_stream_open(redis):
    from geo.fanout import keys
    from geo.fanout.feed_store import FeedStore
    from geo.fanout.live_hub import LiveHub

    store, checkin_id = FeedStore(redis), 123_456 << 22
    # A bare subscription to 1001's channel that no stream registered: nobody listens to 1001.
    async with (
        LiveHub.of(redis).listen(keys.live_home(1001)) as unregistered,
        store.live_home(1002) as stream,
    ):
        await store.push_many([(checkin_id, [1001, 1002], False)])
        assert await _next_message(stream) == str(checkin_id).encode()
        # Messages on one channel keep their order: had 1001 been announced, that would come first.
        await redis.spublish(keys.live_home(1001), "marker")
        assert await _next_message(unregistered) == b"marker"
    # Both timelines have it all the same.
    assert await store.home_ids(1001) == await store.home_ids(1002) == [checkin_id]


async def _next_message(channel) -> bytes | None:  # type: ignore[no-untyped-def]
    for _ in range(5):  # None also stands for a subscription confirmation
        if (data := await channel.next_message(5)) is not None:
            return data
    return None
