"""Retraction: a delete, an unfriend, a circle removal, a block or an unfollow takes the check-ins
concerned out of the Redis home timelines themselves (not only out of what reads show) and sends
`event: delete` to open streams. The worker is drained before each assertion (no timing)."""

import asyncio

import pytest

from geo.core.auth import Actor
from geo.fanout import keys
from geo.fanout.live import home_events
from geo.fanout.worker import drain
from tests.checkins.factories import post_checkin
from tests.fanout.factories import deleted_event
from tests.social.factories import befriend

pytestmark = pytest.mark.redis_cluster


async def _held(redis, who: dict) -> set[str]:
    """What the account's home timeline holds in Redis (not what a read would show)."""
    return {m.decode() for m in await redis.zrange(keys.home(int(who["id"])), 0, -1)}


async def _open_stream(app, redis, who: dict):  # type: ignore[no-untyped-def]
    actor = Actor(id=int(who["id"]), handle=who["handle"], kind="member")
    stream = home_events(app.state.db, redis, actor, max_seconds=10)
    assert await anext(stream) == b": connected\n\n"
    return stream


async def _next_event(stream) -> str:  # type: ignore[no-untyped-def]
    return (await asyncio.wait_for(anext(stream), 5)).decode()


async def _both_audiences(app, client, redis, world) -> str:
    await client.post(f"/v1/follows/{world['author']['id']}", headers=world["follower"]["headers"])
    made = (
        await post_checkin(
            client,
            world["author"],
            world["place"],
            audience={"circles": [world["circle"]["id"]], "public": True},
        )
    ).json()
    await drain(app.state.db, redis)
    return made["id"]


async def test_delete_leaves_every_timeline_and_is_announced(app, client, redis, world):
    friend_stream = await _open_stream(app, redis, world["friend"])
    checkin_id = await _both_audiences(app, client, redis, world)
    assert (await _next_event(friend_stream)).startswith(f"id: {checkin_id}\nevent: checkin\n")
    follower_stream = await _open_stream(app, redis, world["follower"])

    assert (
        await client.delete(f"/v1/checkins/{checkin_id}", headers=world["author"]["headers"])
    ).status_code == 204
    await drain(app.state.db, redis)
    for who in ("author", "friend", "follower"):
        assert await _held(redis, world[who]) == set()
    assert await redis.zcard(keys.public_global()) == 0
    assert await _next_event(friend_stream) == deleted_event(checkin_id)
    assert await _next_event(follower_stream) == deleted_event(checkin_id)
    await friend_stream.aclose()
    await follower_stream.aclose()


async def test_unfriend_removes_circle_checkins_both_ways_and_cuts_the_stream(
    app,
    client,
    redis,
    world,
):
    theirs = (
        await client.post(
            "/v1/circles",
            json={"name": "mine", "members": [world["author"]["id"]]},
            headers=world["friend"]["headers"],
        )
    ).json()
    mine = (
        await post_checkin(
            client, world["author"], world["place"], audience={"circles": [world["circle"]["id"]]}
        )
    ).json()["id"]
    back = (
        await post_checkin(
            client, world["friend"], world["place"], audience={"circles": [theirs["id"]]}
        )
    ).json()["id"]
    await drain(app.state.db, redis)
    assert await _held(redis, world["friend"]) == {mine, back}
    assert await _held(redis, world["author"]) == {mine, back}
    stream = await _open_stream(app, redis, world["friend"])

    await client.delete(f"/v1/friends/{world['author']['id']}", headers=world["friend"]["headers"])
    await drain(app.state.db, redis)
    # Each keeps their own check-in and loses the other's.
    assert await _held(redis, world["friend"]) == {back}
    assert await _held(redis, world["author"]) == {mine}
    assert await _next_event(stream) == deleted_event(mine)
    await stream.aclose()


async def test_circle_removal_keeps_what_still_reaches_them_publicly(app, client, redis, world):
    await client.post(f"/v1/follows/{world['author']['id']}", headers=world["friend"]["headers"])
    circle_only = (
        await post_checkin(
            client, world["author"], world["place"], audience={"circles": [world["circle"]["id"]]}
        )
    ).json()["id"]
    both = (
        await post_checkin(
            client,
            world["author"],
            world["place"],
            public_precision="city",
            audience={"circles": [world["circle"]["id"]], "public": True},
        )
    ).json()
    await drain(app.state.db, redis)
    assert await _held(redis, world["friend"]) == {circle_only, both["id"]}

    changed = await client.put(
        f"/v1/circles/{world['circle']['id']}",
        json={"members": []},
        headers=world["author"]["headers"],
    )
    assert changed.status_code == 200
    await drain(app.state.db, redis)
    # Still a follower: the public side of `both` stays, now seen at its public precision.
    assert await _held(redis, world["friend"]) == {both["id"]}
    home = (await client.get("/v1/timelines/home", headers=world["friend"]["headers"])).json()
    assert [(i["id"], i["audience"], i["place"]["precision"]) for i in home["items"]] == [
        (both["id"], "public", "city")
    ]


async def test_circle_delete_removes_its_checkins(app, client, redis, world):
    made = (
        await post_checkin(
            client, world["author"], world["place"], audience={"circles": [world["circle"]["id"]]}
        )
    ).json()["id"]
    await drain(app.state.db, redis)
    assert await _held(redis, world["friend"]) == {made}
    await client.delete(f"/v1/circles/{world['circle']['id']}", headers=world["author"]["headers"])
    await drain(app.state.db, redis)
    assert await _held(redis, world["friend"]) == set()
    assert await _held(redis, world["author"]) == {made}


async def test_block_removes_everything_of_the_other(app, client, redis, world):
    await client.post(f"/v1/follows/{world['author']['id']}", headers=world["friend"]["headers"])
    circle_only = (
        await post_checkin(
            client, world["author"], world["place"], audience={"circles": [world["circle"]["id"]]}
        )
    ).json()["id"]
    public_only = (
        await post_checkin(client, world["author"], world["place"], audience={"public": True})
    ).json()["id"]
    await drain(app.state.db, redis)
    assert await _held(redis, world["friend"]) == {circle_only, public_only}
    stream = await _open_stream(app, redis, world["friend"])

    await client.post(f"/v1/blocks/{world['friend']['id']}", headers=world["author"]["headers"])
    await drain(app.state.db, redis)
    assert await _held(redis, world["friend"]) == set()
    retracted = {await _next_event(stream), await _next_event(stream)}
    assert retracted == {deleted_event(circle_only), deleted_event(public_only)}
    await stream.aclose()


async def test_unfollow_removes_public_checkins_only(app, client, redis, world):
    checkin_id = await _both_audiences(app, client, redis, world)
    assert await _held(redis, world["follower"]) == {checkin_id}
    await client.delete(
        f"/v1/follows/{world['author']['id']}", headers=world["follower"]["headers"]
    )
    await drain(app.state.db, redis)
    assert await _held(redis, world["follower"]) == set()
    assert await _held(redis, world["friend"]) == {checkin_id}
    # Still on the public stream: unfollowing changes only the follower's home.
    assert await redis.zcard(keys.public_global()) == 1


async def test_delete_is_announced_only_to_streams_that_received_the_item(
    app,
    client,
    redis,
    world,
):
    """Recipients by today's graph are not recipients: a follower gained and a circle member added
    after the delivery never got the check-in, and its `event: delete` would tell them its id
    (hence its time) and that the author posted something hidden from them."""
    author, newcomer, latecomer = world["author"], world["stranger"], world["follower"]
    made = (
        await post_checkin(
            client,
            author,
            world["place"],
            audience={"circles": [world["circle"]["id"]], "public": True},
        )
    ).json()["id"]
    await drain(app.state.db, redis)
    await client.post(f"/v1/follows/{author['id']}", headers=latecomer["headers"])
    await befriend(client, author, newcomer)
    await client.put(
        f"/v1/circles/{world['circle']['id']}",
        json={"members": [world["friend"]["id"], newcomer["id"]]},
        headers=author["headers"],
    )
    friend_stream = await _open_stream(app, redis, world["friend"])
    late_stream = await _open_stream(app, redis, latecomer)
    new_stream = await _open_stream(app, redis, newcomer)

    await client.delete(f"/v1/checkins/{made}", headers=author["headers"])
    await drain(app.state.db, redis)
    assert await _next_event(friend_stream) == deleted_event(made)
    # The next event each never-recipient sees is the next check-in, not the delete.
    later = (
        await post_checkin(
            client,
            author,
            world["place"],
            audience={"circles": [world["circle"]["id"]], "public": True},
        )
    ).json()["id"]
    await drain(app.state.db, redis)
    assert (await _next_event(late_stream)).startswith(f"id: {later}\nevent: checkin\n")
    assert (await _next_event(new_stream)).startswith(f"id: {later}\nevent: checkin\n")
    for stream in (friend_stream, late_stream, new_stream):
        await stream.aclose()
