"""The live multiplexer: every open stream of a process shares one Redis pub/sub connection (one
per node on a cluster), counted in CLIENT LIST; it survives a killed connection (as after a Redis
restart) by reconnecting, resubscribing and telling streams to catch up. No timing assertions:
waits are bounded and only on state changes."""

import asyncio
import time
from contextlib import AsyncExitStack

import pytest
from redis.asyncio import Redis, RedisCluster

from geo.checkins import service as checkins_service
from geo.core.auth import Actor
from geo.fanout import keys
from geo.fanout.live import home_events
from geo.fanout.live_hub import GAP, LiveHub
from geo.fanout.service import deliver
from geo.fanout.worker import drain
from tests.checkins.factories import post_checkin

pytestmark = pytest.mark.redis_cluster
STREAMS = 200


def _nodes(redis) -> list[Redis]:  # type: ignore[no-untyped-def]
    if isinstance(redis, RedisCluster):
        return [Redis(host=n.host, port=n.port) for n in redis.get_primaries()]
    return [redis]


async def _hub_connections(redis, name: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """CLIENT LIST entries (of every primary) that belong to the hub named `name`."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()
    found = []
    for node in _nodes(redis):
        found += [c for c in await node.client_list() if c.get("name") == name]
        if node is not redis:
            await node.aclose()
    return found


async def _until(redis, name: str, done) -> list[dict]:  # type: ignore[no-untyped-def]
    """Wait (bounded) until the hub's connections satisfy `done`: Redis applies a subscription
    or a close when it reads it, not when the client sent it."""
    for _ in range(200):
        conns = await _hub_connections(redis, name)
        if done(conns):
            return conns
        await asyncio.sleep(0.05)
    raise AssertionError(f"the hub's connections never got there: {conns}")


async def _subscribed(redis, name: str, count: int) -> list[dict]:  # type: ignore[no-untyped-def]
    return await _until(redis, name, lambda conns: sum(int(c["ssub"]) for c in conns) == count)


def _fresh_accounts(n: int) -> list[int]:
    # Channels are server-wide (not per DB): ids no other test on this Redis uses.
    base = time.time_ns() // 1000
    return [base + i for i in range(n)]


async def test_many_streams_share_one_connection_per_node(redis):
    channels = [keys.live_home(a) for a in _fresh_accounts(STREAMS)]
    hub = LiveHub.of(redis)
    async with AsyncExitStack() as stack:
        listeners = [await stack.enter_async_context(hub.listen(c)) for c in channels]
        twin = await stack.enter_async_context(hub.listen(channels[0]))  # a second stream
        conns = await _hub_connections(redis, hub.name)
        # One subscription per channel, however many streams; one connection per node serving.
        assert sum(int(c["ssub"]) for c in conns) == STREAMS
        assert len(conns) == (len(redis.get_primaries()) if isinstance(redis, RedisCluster) else 1)
        for n, channel in enumerate(channels):
            await redis.spublish(channel, str(n))
        for n, listener in enumerate(listeners):
            assert await listener.next_message(5) == str(n).encode()
        assert await twin.next_message(5) == b"0"
    # The last stream gone, the process holds no pub/sub connection (once Redis saw it close).
    await _until(redis, hub.name, lambda conns: conns == [])


async def test_home_streams_of_several_accounts_share_the_connection(app, client, redis, world):
    await client.post(f"/v1/follows/{world['author']['id']}", headers=world["follower"]["headers"])
    streams = []
    for who in ("author", "friend", "follower"):
        actor = Actor(id=int(world[who]["id"]), handle=world[who]["handle"], kind="member")
        streams.append(home_events(app.state.db, redis, actor, max_seconds=10))
        assert await anext(streams[-1]) == b": connected\n\n"
    conns = await _hub_connections(redis, LiveHub.of(redis).name)
    assert sum(int(c["ssub"]) for c in conns) == 3
    assert len(conns) <= len(_nodes(redis))
    made = (
        await post_checkin(
            client,
            world["author"],
            world["place"],
            audience={"circles": [world["circle"]["id"]], "public": True},
        )
    ).json()["id"]
    await drain(app.state.db, redis)
    for stream in streams:
        event = (await asyncio.wait_for(anext(stream), 5)).decode()
        assert event.startswith(f"id: {made}\nevent: checkin\n")
        await stream.aclose()


async def _kill(redis, conns: list[dict]) -> None:  # type: ignore[no-untyped-def]
    for node in _nodes(redis):
        for conn in conns:
            await node.client_kill_filter(_id=conn["id"])
        if node is not redis:
            await node.aclose()


async def test_a_killed_connection_is_reopened_and_resubscribed(redis):
    channel = keys.live_home(_fresh_accounts(1)[0])
    hub = LiveHub.of(redis)
    async with hub.listen(channel) as listener:
        before = await _subscribed(redis, hub.name, 1)
        await _kill(redis, before)  # what a Redis restart does to the connection
        assert await listener.next_message(10) == GAP
        after = await _subscribed(redis, hub.name, 1)
        assert {c["id"] for c in after}.isdisjoint({c["id"] for c in before})
        await redis.spublish(channel, "7")
        assert await listener.next_message(5) == b"7"


async def test_a_stream_catches_up_after_its_connection_was_lost(app, client, redis, world):
    actor = Actor(id=int(world["friend"]["id"]), handle=world["friend"]["handle"], kind="member")
    stream = home_events(app.state.db, redis, actor, max_seconds=10)
    assert await anext(stream) == b": connected\n\n"
    made = (
        await post_checkin(
            client, world["author"], world["place"], audience={"circles": [world["circle"]["id"]]}
        )
    ).json()["id"]
    # Delivered while the stream's announcement is lost (as if Redis had been down then).
    async with app.state.db.sessionmaker() as session:
        assert await checkins_service.delivery_facts_many(session, [int(made)])
        await deliver(session, redis, int(made), announce=False)
    await _kill(redis, await _subscribed(redis, LiveHub.of(redis).name, 1))
    event = (await asyncio.wait_for(anext(stream), 10)).decode()
    assert event.startswith(f"id: {made}\nevent: checkin\n")
    await stream.aclose()
