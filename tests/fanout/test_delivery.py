"""Fan-out end to end: API write -> outbox -> relay -> stream -> worker -> feeds -> reads."""

import pytest

from geo.fanout import keys
from geo.fanout.worker import drain
from tests.checkins.factories import post_checkin

pytestmark = pytest.mark.redis_cluster


async def _home(client, who) -> list[dict]:
    return (await client.get("/v1/timelines/home", headers=who["headers"])).json()["items"]


async def test_both_audiences_are_delivered_each_with_its_view(app, client, redis, world):
    await client.post(f"/v1/follows/{world['author']['id']}", headers=world["follower"]["headers"])
    made = (
        await post_checkin(
            client,
            world["author"],
            world["place"],
            public_precision="city",
            audience={"circles": [world["circle"]["id"]], "public": True},
        )
    ).json()
    await drain(app.state.db, redis)

    friend_home = await _home(client, world["friend"])
    follower_home = await _home(client, world["follower"])
    assert [i["id"] for i in await _home(client, world["author"])] == [made["id"]]
    assert [(i["id"], i["audience"]) for i in friend_home] == [(made["id"], "circle")]
    assert [(i["id"], i["audience"]) for i in follower_home] == [(made["id"], "public")]
    assert follower_home[0]["place"]["precision"] == "city"
    assert "name" not in follower_home[0]["place"]
    assert await _home(client, world["stranger"]) == []
    public = (await client.get("/v1/timelines/public", headers=world["stranger"]["headers"])).json()
    assert [i["id"] for i in public["items"]] == [made["id"]]
    assert "Tokyo Tower" not in str(public)


async def test_circle_only_stays_out_of_public_and_followers(app, client, redis, world):
    await client.post(f"/v1/follows/{world['author']['id']}", headers=world["follower"]["headers"])
    await post_checkin(
        client, world["author"], world["place"], audience={"circles": [world["circle"]["id"]]}
    )
    await drain(app.state.db, redis)
    assert await _home(client, world["follower"]) == []
    assert await redis.zcard(keys.public_global()) == 0
    assert len(await _home(client, world["friend"])) == 1


async def test_delete_retracts_everywhere(app, client, redis, world):
    made = (
        await post_checkin(
            client,
            world["author"],
            world["place"],
            audience={"circles": [world["circle"]["id"]], "public": True},
        )
    ).json()
    await drain(app.state.db, redis)
    await client.delete(f"/v1/checkins/{made['id']}", headers=world["author"]["headers"])
    await drain(app.state.db, redis)
    for who in ("author", "friend"):
        assert await redis.zcard(keys.home(int(world[who]["id"]))) == 0
    assert await redis.zcard(keys.public_global()) == 0


async def test_redelivery_changes_nothing(app, client, redis, world):
    from geo.fanout import service

    made = (
        await post_checkin(
            client, world["author"], world["place"], audience={"circles": [world["circle"]["id"]]}
        )
    ).json()
    await drain(app.state.db, redis)
    friend_key = keys.home(int(world["friend"]["id"]))
    before = await redis.zrange(friend_key, 0, -1, withscores=True)
    async with app.state.db.sessionmaker() as session:
        await service.deliver(session, redis, int(made["id"]))
    assert await redis.zrange(friend_key, 0, -1, withscores=True) == before


async def test_unfriend_and_block_take_effect_on_read(app, client, redis, world):
    await post_checkin(
        client,
        world["author"],
        world["place"],
        audience={"circles": [world["circle"]["id"]], "public": True},
    )
    await drain(app.state.db, redis)
    assert len(await _home(client, world["friend"])) == 1
    await client.post(f"/v1/blocks/{world['author']['id']}", headers=world["friend"]["headers"])
    assert await _home(client, world["friend"]) == []


async def test_local_public_timeline_uses_the_allowed_precision(app, client, redis, world):
    await post_checkin(
        client, world["author"], world["place"], public_precision="exact", audience={"public": True}
    )
    await drain(app.state.db, redis)
    near = await client.get(
        "/v1/timelines/public",
        headers=world["stranger"]["headers"],
        params={"lat": 35.6586, "lon": 139.7454, "radius_m": 200},
    )
    far = await client.get(
        "/v1/timelines/public",
        headers=world["stranger"]["headers"],
        params={"lat": 34.0, "lon": 135.0, "radius_m": 200},
    )
    assert len(near.json()["items"]) == 1
    assert far.json()["items"] == []


async def test_home_timeline_pages_with_cursor(app, client, redis, world):
    made = []
    for i in range(5):
        made.append(
            (await post_checkin(client, world["author"], world["place"], message=f"m{i}")).json()[
                "id"
            ]
        )
    await drain(app.state.db, redis)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"before": cursor} if cursor else {})}
        page = (
            await client.get(
                "/v1/timelines/home", params=params, headers=world["author"]["headers"]
            )
        ).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == list(reversed(made))
