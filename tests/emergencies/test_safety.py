"""Safety check-ins: who may report, idempotency, audiences, and delivery through the fan-out."""

import pytest

from geo.checkins.plausibility import haversine_m
from geo.fanout import keys
from geo.fanout.worker import drain
from tests.checkins.factories import post_checkin
from tests.conftest import make_account
from tests.emergencies.factories import TOKYO_TOWER, report

pytestmark = pytest.mark.redis_cluster


async def _home(client, who) -> list[dict]:
    response = await client.get("/v1/timelines/home", headers=who["headers"])
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_last_seen_inside_may_report_and_all_friends_get_it(app, client, redis, quake):
    made = await report(client, quake["author"], quake["emergency"], message="ok, at home")
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["kind"] == "safety"
    assert body["status"] == "safe"
    assert body["emergency_id"] == quake["emergency"]["id"]
    assert body["place"] is None  # no position reported
    await drain(app.state.db, redis)
    for who in ("author", "close", "friend"):
        items = await _home(client, quake[who])
        assert items[0]["id"] == body["id"], who
        assert items[0]["kind"] == "safety"
        assert items[0]["audience"] == "circle"
    # The ordinary check-in still comes as a check-in, beside it.
    assert [i["kind"] for i in await _home(client, quake["close"])] == ["safety", "checkin"]
    for who in ("follower", "stranger"):
        assert [i["id"] for i in await _home(client, quake[who])] == [], who
    assert await redis.zcard(keys.public_global()) == 0


async def test_someone_never_seen_inside_is_422_unless_their_position_is(client, quake):
    newcomer = await make_account(client)
    outside = await report(client, newcomer, quake["emergency"])
    assert outside.status_code == 422
    far = await report(client, newcomer, quake["emergency"], lat=35.0, lon=135.0, accuracy_m=10)
    assert far.status_code == 422
    lat, lon = TOKYO_TOWER
    vague = await report(client, newcomer, quake["emergency"], lat=lat, lon=lon, accuracy_m=5000)
    assert vague.status_code == 422
    inside = await report(
        client, newcomer, quake["emergency"], lat=lat, lon=lon, accuracy_m=30, status="need_help"
    )
    assert inside.status_code == 201, inside.text
    assert inside.json()["place"]["precision"] == "exact"
    half = await report(client, newcomer, quake["emergency"], lat=lat)
    assert half.status_code == 422
    for bad in ({"lat": True}, {"lon": str(lon)}, {"accuracy_m": False}):
        body = {"lat": lat, "lon": lon, "accuracy_m": 30, **bad}
        typed = await report(client, newcomer, quake["emergency"], **body)
        assert typed.status_code == 422, bad
        assert [e["field"] for e in typed.json()["errors"]] == [f"body.{next(iter(bad))}"]


async def test_retries_return_the_first_answer(client, quake):
    first = await report(client, quake["author"], quake["emergency"], key="k-1", message="safe")
    again = await report(client, quake["author"], quake["emergency"], key="k-1", message="safe")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    other = await report(client, quake["author"], quake["emergency"], key="k-1", message="help")
    assert other.status_code == 422


async def test_circles_narrow_the_audience(app, client, redis, quake):
    made = await report(
        client, quake["author"], quake["emergency"], audience={"circles": [quake["circle"]["id"]]}
    )
    assert made.status_code == 201, made.text
    await drain(app.state.db, redis)
    assert made.json()["id"] in [i["id"] for i in await _home(client, quake["close"])]
    assert made.json()["id"] not in [i["id"] for i in await _home(client, quake["friend"])]
    foreign = await report(
        client, quake["close"], quake["emergency"], audience={"circles": [quake["circle"]["id"]]}
    )
    assert foreign.status_code == 404


async def test_public_reports_reach_followers_and_the_public_at_area_precision(
    app, client, redis, quake
):
    lat, lon = TOKYO_TOWER
    made = await report(
        client,
        quake["author"],
        quake["emergency"],
        lat=lat,
        lon=lon,
        accuracy_m=20,
        audience={"public": True},
    )
    assert made.status_code == 201, made.text
    await drain(app.state.db, redis)
    follower_home = await _home(client, quake["follower"])
    assert [i["id"] for i in follower_home] == [made.json()["id"]]
    public = await client.get("/v1/timelines/public", headers=quake["stranger"]["headers"])
    item = public.json()["items"][0]
    assert item["audience"] == "public"
    assert item["place"]["precision"] == "area"
    assert (item["place"]["lat"], item["place"]["lon"]) != (lat, lon)
    assert str(lat) not in public.text
    # Friends still get the exact position they were given.
    friend_item = (await _home(client, quake["friend"]))[0]
    assert friend_item["place"]["precision"] == "exact"


async def _local(client, who, lat: float, lon: float, radius_m: float) -> list[dict]:
    response = await client.get(
        "/v1/timelines/public",
        params={"lat": lat, "lon": lon, "radius_m": radius_m},
        headers=who["headers"],
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_public_reports_reach_the_local_public_stream_at_their_area_cell(
    app, client, redis, quake
):
    lat, lon = TOKYO_TOWER
    made = await report(
        client,
        quake["author"],
        quake["emergency"],
        lat=lat,
        lon=lon,
        accuracy_m=20,
        audience={"public": True},
    )
    assert made.status_code == 201, made.text
    await drain(app.state.db, redis)
    near = await _local(client, quake["stranger"], lat, lon, 5000)
    assert [i["id"] for i in near] == [made.json()["id"]]  # (the circle-only check-in is not)
    item = near[0]
    assert item["kind"] == "safety"
    assert item["place"]["precision"] == "area"
    centre = (item["place"]["lat"], item["place"]["lon"])
    # Narrowing cannot find the reported point: the stream places the report at its cell's
    # centre, so a small disc on the exact position misses it and one on the centre finds it.
    gap = haversine_m(lat, lon, *centre)
    assert gap > 20
    assert await _local(client, quake["stranger"], lat, lon, gap / 2) == []
    assert [i["id"] for i in await _local(client, quake["stranger"], *centre, 1)] == [
        made.json()["id"]
    ]
    # Paging the local stream keeps one order over check-ins and reports.
    seen = await post_checkin(
        client,
        quake["stranger"],
        quake["place"],
        audience={"public": True},
        public_precision="exact",
    )
    assert seen.status_code == 201, seen.text
    first = await client.get(
        "/v1/timelines/public",
        params={"lat": lat, "lon": lon, "radius_m": 5000, "limit": 1},
        headers=quake["stranger"]["headers"],
    )
    assert [i["id"] for i in first.json()["items"]] == [seen.json()["id"]]
    rest = await client.get(
        "/v1/timelines/public",
        params={"lat": lat, "lon": lon, "radius_m": 5000, "before": first.json()["next"]},
        headers=quake["stranger"]["headers"],
    )
    assert [i["id"] for i in rest.json()["items"]] == [made.json()["id"]]


async def test_private_reports_and_reports_without_a_position_stay_out_of_the_local_stream(
    app, client, redis, quake
):
    lat, lon = TOKYO_TOWER
    private = await report(
        client, quake["author"], quake["emergency"], lat=lat, lon=lon, accuracy_m=20
    )
    assert private.status_code == 201, private.text
    unplaced = await report(
        client,
        quake["close"],
        quake["emergency"],
        lat=lat,
        lon=lon,
        accuracy_m=20,
        audience={"public": True},
    )
    assert unplaced.status_code == 201, unplaced.text
    nowhere = await report(client, quake["author"], quake["emergency"], audience={"public": True})
    assert nowhere.status_code == 201, nowhere.text
    await drain(app.state.db, redis)
    for who in ("stranger", "friend", "follower"):
        ids = [i["id"] for i in await _local(client, quake[who], lat, lon, 50_000)]
        assert private.json()["id"] not in ids, who
        assert nowhere.json()["id"] not in ids, who
        assert unplaced.json()["id"] in ids, who


async def test_an_ended_emergency_takes_no_reports(client, quake):
    await client.patch(
        f"/v1/emergencies/{quake['emergency']['id']}",
        json={"status": "ended"},
        headers=quake["operator"]["headers"],
    )
    late = await report(client, quake["author"], quake["emergency"])
    assert late.status_code == 409
    missing = await client.post(
        "/v1/emergencies/999/safety", json={"status": "safe"}, headers=quake["author"]["headers"]
    )
    assert missing.status_code == 404


async def test_reports_travel_in_the_priority_lane(app, client, redis, quake):
    from geo.fanout.worker import relay_once

    await report(client, quake["author"], quake["emergency"])
    await relay_once(app.state.db, redis)
    topics = [f[b"topic"] for _, f in await redis.xrange(keys.PRIORITY)]
    assert b"safety.created" in topics
    ordinary = [f[b"topic"] for _, f in await redis.xrange(keys.STREAM)]
    assert b"safety.created" not in ordinary


async def test_unfriending_takes_the_report_out_of_the_home_timeline(app, client, redis, quake):
    made = (await report(client, quake["author"], quake["emergency"])).json()
    await drain(app.state.db, redis)
    await client.delete(f"/v1/friends/{quake['author']['id']}", headers=quake["friend"]["headers"])
    await drain(app.state.db, redis)
    friend_key = keys.home(int(quake["friend"]["id"]))
    assert str(made["id"]).encode() not in await redis.zrange(friend_key, 0, -1)
    close_key = keys.home(int(quake["close"]["id"]))
    assert str(made["id"]).encode() in await redis.zrange(close_key, 0, -1)
