"""DELETE /v1/me erases an account end to end; GET /v1/me/export hands a person their own data.
On the single Redis and on the Redis Cluster: the fan-out is drained before each assertion."""

import asyncio

import pytest
from sqlalchemy import text

from geo.core.auth import Actor
from geo.fanout import keys
from geo.fanout.live import home_events
from geo.fanout.worker import drain
from tests.checkins.factories import post_checkin
from tests.conftest import make_account
from tests.fanout.factories import deleted_event
from tests.reports import factories
from tests.reports.factories import hours_ago

pytestmark = pytest.mark.redis_cluster

PASSWORD = "correct horse"


async def _held(redis, key: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {m.decode() for m in await redis.zrange(key, 0, -1)}


async def erase(client, who: dict, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return await client.request(
        "DELETE", "/v1/me", json={"password": password}, headers=who["headers"]
    )


async def _open_stream(app, redis, who: dict):  # type: ignore[no-untyped-def]
    actor = Actor(id=int(who["id"]), handle=who["handle"], kind="member")
    # A generous bound: the box may be busy; the test waits for events, never for time.
    stream = home_events(app.state.db, redis, actor, max_seconds=120)
    assert await anext(stream) == b": connected\n\n"
    return stream


async def _scalar(session, sql: str, **params):  # type: ignore[no-untyped-def]
    return (await session.execute(text(sql), params)).scalar()


async def test_erasure_end_to_end(app, client, redis, session, world):
    author, friend, follower = world["author"], world["friend"], world["follower"]
    aid = int(author["id"])
    await client.post(f"/v1/follows/{author['id']}", headers=follower["headers"])
    await client.post(f"/v1/follows/{friend['id']}", headers=author["headers"])
    both = {"circles": [world["circle"]["id"]], "public": True}
    made = [
        (await post_checkin(client, author, world["place"], audience=both)).json()["id"]
        for _ in range(2)
    ]
    by_friend = (
        await post_checkin(client, friend, world["place"], audience={"public": True})
    ).json()
    await drain(app.state.db, redis)
    assert by_friend["id"] in await _held(redis, keys.home(aid))  # A follows the friend
    assert set(made) <= await _held(redis, keys.home(int(friend["id"])))
    assert set(made) <= await _held(redis, keys.home(int(follower["id"])))
    assert set(made) <= await _held(redis, keys.public_global())
    # Ad ledger rows that name the author as viewer, and one released rollup.
    place = await factories.make_place(session, owner_id=None, name="Ad place")
    campaign = await factories.make_campaign(session, owner_id=int(friend["id"]), place_id=place)
    served = hours_ago(30)
    impressions = await factories.add_impressions(
        session, campaign_id=campaign, rows=[(aid, served, 120.0), (aid, served, 130.0)]
    )
    await factories.add_click(
        session,
        impression_id=impressions[0],
        campaign_id=campaign,
        viewer_id=aid,
        clicked_at=served,
    )
    await factories.add_holdouts(session, campaign_id=campaign, rows=[(aid, served, 50.0)])
    ledger_before = await _scalar(
        session, "SELECT count(*) FROM ad_impressions WHERE campaign_id = :c", c=campaign
    )

    wrong = await erase(client, author, "not my password")
    assert wrong.status_code == 403
    assert wrong.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/me", headers=author["headers"])).status_code == 200

    assert (await erase(client, author)).status_code == 204
    # Opened after the erasure's commit and before the fan-out runs: it must hear the retractions.
    friend_stream = await _open_stream(app, redis, friend)
    await drain(app.state.db, redis)

    # Tokens: gone at once; the handle no longer signs in.
    assert (await client.get("/v1/me", headers=author["headers"])).status_code == 401
    relogin = await client.post(
        "/v1/auth/token", json={"handle": author["handle"], "password": PASSWORD}
    )
    assert relogin.status_code == 401
    # Check-ins: out of every timeline and stream, unreadable to their former audience.
    for who in (friend, follower):
        assert not set(made) & await _held(redis, keys.home(int(who["id"])))
        home = (await client.get("/v1/timelines/home", headers=who["headers"])).json()
        assert not {i["id"] for i in home["items"]} & set(made)
    assert not set(made) & await _held(redis, keys.public_global())
    assert by_friend["id"] in await _held(redis, keys.public_global())
    # What the account itself had received is gone too.
    assert await redis.exists(keys.home(aid)) == 0
    for checkin_id in made:
        seen = await client.get(f"/v1/checkins/{checkin_id}", headers=friend["headers"])
        assert seen.status_code == 404
    events = set()
    for _ in range(4):  # both retractions, in some order
        events.add(await asyncio.wait_for(anext(friend_stream), 60))
        if all(deleted_event(c).encode() in events for c in made):
            break
    assert all(deleted_event(c).encode() in events for c in made)
    # The graph: no friendship, circle membership, follow or block names the account.
    friends = (await client.get("/v1/friends", headers=friend["headers"])).json()
    assert friends["items"] == []
    for table, columns in (
        ("friendships", ("a_id", "b_id")),
        ("friend_requests", ("from_id", "to_id")),
        ("circle_members", ("member_id",)),
        ("circles", ("owner_id",)),
        ("follows", ("follower_id", "followee_id")),
        ("blocks", ("blocker_id", "blocked_id")),
        ("account_tokens", ("account_id",)),
        ("checkins", ("author_id",)),
    ):
        where = " OR ".join(f"{c} = :a" for c in columns)
        assert await _scalar(session, f"SELECT count(*) FROM {table} WHERE {where}", a=aid) == 0
    # Its places stay, ownerless.
    owner = await _scalar(
        session, "SELECT owner_id FROM places WHERE id = :p", p=int(world["place"]["id"])
    )
    assert owner is None
    assert (
        await client.get(f"/v1/places/{world['place']['id']}", headers=friend["headers"])
    ).status_code == 200
    # The ledger keeps its rows (the books add up) but none points at the account.
    for table in ("ad_impressions", "ad_clicks", "ad_holdouts"):
        assert (
            await _scalar(session, f"SELECT count(*) FROM {table} WHERE viewer_id = :a", a=aid) == 0
        )
        assert await _scalar(session, f"SELECT count(*) FROM {table} WHERE viewer_id < 0") >= 1
    assert ledger_before == await _scalar(
        session, "SELECT count(*) FROM ad_impressions WHERE campaign_id = :c", c=campaign
    )
    assert await _scalar(session, "SELECT count(*) FROM accounts WHERE id = :a", a=aid) == 0


async def test_erasure_needs_the_password_and_a_token(client):
    someone = await make_account(client)
    assert (
        await client.request("DELETE", "/v1/me", json={"password": PASSWORD})
    ).status_code == 401
    missing = await client.request("DELETE", "/v1/me", json={}, headers=someone["headers"])
    assert missing.status_code == 422
    assert (await erase(client, someone, "guess")).status_code == 403


async def test_erasure_password_guesses_are_rate_limited(app, client):
    someone = await make_account(client)
    app.state.settings = app.state.settings.model_copy(
        update={"rate_limit_sign_in_per_handle": "2/5minutes"}
    )
    app.state.auth_throttle = None
    for guess in range(2):
        assert (await erase(client, someone, f"guess {guess}")).status_code == 403
    limited = await erase(client, someone)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1


async def test_export_holds_the_persons_own_data(client, world):
    author, friend, follower = world["author"], world["friend"], world["follower"]
    await client.post(f"/v1/follows/{author['id']}", headers=follower["headers"])
    await client.post(f"/v1/follows/{friend['id']}", headers=author["headers"])
    stranger = world["stranger"]
    await client.post(f"/v1/blocks/{stranger['id']}", headers=author["headers"])
    made = (
        await post_checkin(
            client,
            author,
            world["place"],
            audience={"circles": [world["circle"]["id"]], "public": True},
            public_precision="city",
        )
    ).json()
    await post_checkin(client, friend, world["place"], audience={"public": True})
    response = await client.get("/v1/me/export", headers=author["headers"])
    assert response.status_code == 200
    data = response.json()
    assert data["account"]["id"] == author["id"]
    assert data["account"]["handle"] == author["handle"]
    assert [c["id"] for c in data["checkins"]] == [made["id"]]  # only the author's own
    exported = data["checkins"][0]
    # The exact place, even though the public was only told the city.
    assert exported["place"]["id"] == world["place"]["id"]
    assert exported["place"]["name"] == "Tokyo Tower"
    assert abs(exported["place"]["lat"] - world["place"]["lat"]) < 1e-9
    assert exported["public_precision"] == "city"
    assert exported["audience"] == {"circles": [world["circle"]["id"]], "public": True}
    assert [f["id"] for f in data["friends"]] == [friend["id"]]
    assert data["circles"] == [
        {"id": world["circle"]["id"], "name": world["circle"]["name"], "members": [friend["id"]]}
    ]
    assert [f["id"] for f in data["following"]] == [friend["id"]]
    assert [f["id"] for f in data["followers"]] == [follower["id"]]
    assert [b["id"] for b in data["blocked"]] == [stranger["id"]]
    # Another person's export holds none of it.
    theirs = (await client.get("/v1/me/export", headers=follower["headers"])).json()
    assert theirs["checkins"] == []
    assert theirs["account"]["id"] == follower["id"]
    assert (await client.get("/v1/me/export")).status_code == 401
