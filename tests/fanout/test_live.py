import asyncio

import pytest

from geo.fanout.live import home_events
from geo.fanout.worker import drain
from tests.checkins.test_checkins_api import _checkin, world  # noqa: F401  (fixture)

pytestmark = pytest.mark.redis_cluster


async def test_stream_sends_delivered_items_only_while_visible(app, client, redis, world):  # noqa: F811
    from geo.core.auth import Actor

    friend = Actor(id=int(world["friend"]["id"]), handle=world["friend"]["handle"], kind="member")
    stream = home_events(app.state.db, redis, friend, max_seconds=5, max_events=1)
    # Subscribed once it says connected; the announcement waits in the subscription meanwhile
    # (the test's one database connection cannot serve the stream and the worker at once).
    assert await anext(stream) == b": connected\n\n"
    made = (
        await _checkin(
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
