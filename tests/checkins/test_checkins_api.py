import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.checkins.factories import LAT, LON, post_checkin
from tests.places.factories import create_place


async def test_circle_only_checkin_is_seen_by_circle_and_author_only(client, world):
    made = await post_checkin(
        client,
        world["author"],
        world["place"],
        audience={"circles": [world["circle"]["id"]], "public": False},
    )
    assert made.status_code == 201, made.text
    checkin = made.json()
    assert checkin["place"]["precision"] == "exact"
    assert checkin["place"]["id"] == world["place"]["id"]
    path = f"/v1/checkins/{checkin['id']}"
    seen = await client.get(path, headers=world["friend"]["headers"])
    assert seen.status_code == 200
    assert seen.json()["audience"] == "circle"
    assert seen.json()["place"]["name"] == "Tokyo Tower"
    assert (await client.get(path, headers=world["stranger"]["headers"])).status_code == 404
    # Unfriending takes effect at once.
    await client.delete(f"/v1/friends/{world['author']['id']}", headers=world["friend"]["headers"])
    assert (await client.get(path, headers=world["friend"]["headers"])).status_code == 404


async def test_both_audiences_each_get_their_precision(client, world):
    made = await post_checkin(
        client,
        world["author"],
        world["place"],
        public_precision="area",
        audience={"circles": [world["circle"]["id"]], "public": True},
    )
    checkin_id = made.json()["id"]
    friend_view = (
        await client.get(f"/v1/checkins/{checkin_id}", headers=world["friend"]["headers"])
    ).json()
    public_view = await client.get(
        f"/v1/checkins/{checkin_id}", headers=world["stranger"]["headers"]
    )
    assert friend_view["audience"] == "circle"
    assert friend_view["place"]["precision"] == "exact"
    assert public_view.json()["audience"] == "public"
    assert public_view.json()["place"]["precision"] == "area"
    # The public viewer never receives the venue or its coordinates, anywhere in the response.
    raw = public_view.text
    for secret in ("Tokyo Tower", world["place"]["id"], str(LAT), str(LON)):
        assert secret not in raw
    # The venue's list is keyed by the venue: a viewer who may know only the area is not in it
    # (else walking the cell's places would find the check-in); the circle member is.
    path = f"/v1/places/{world['place']['id']}/checkins"
    listed = await client.get(path, headers=world["stranger"]["headers"])
    assert listed.status_code == 200
    assert listed.json() == {"items": [], "next": None}
    by_friend = (await client.get(path, headers=world["friend"]["headers"])).json()
    assert [i["id"] for i in by_friend["items"]] == [checkin_id]


async def test_public_precision_defaults_to_area(client, world):
    made = await post_checkin(client, world["author"], world["place"], audience={"public": True})
    assert made.status_code == 201, made.text
    seen = await client.get(
        f"/v1/checkins/{made.json()['id']}", headers=world["stranger"]["headers"]
    )
    assert seen.json()["place"]["precision"] == "area"
    for secret in ("Tokyo Tower", world["place"]["id"]):
        assert secret not in seen.text
    exact = await post_checkin(
        client, world["author"], world["place"], audience={"public": True}, public_precision="exact"
    )
    seen = await client.get(
        f"/v1/checkins/{exact.json()['id']}", headers=world["stranger"]["headers"]
    )
    assert seen.json()["place"]["name"] == "Tokyo Tower"


async def test_block_hides_public_checkins(client, world):
    made = await post_checkin(client, world["author"], world["place"], audience={"public": True})
    path = f"/v1/checkins/{made.json()['id']}"
    assert (await client.get(path, headers=world["stranger"]["headers"])).status_code == 200
    await client.post(f"/v1/blocks/{world['stranger']['id']}", headers=world["author"]["headers"])
    assert (await client.get(path, headers=world["stranger"]["headers"])).status_code == 404
    listed = await client.get(
        f"/v1/accounts/{world['author']['id']}/checkins", headers=world["stranger"]["headers"]
    )
    assert listed.json()["items"] == []


async def test_empty_audience_is_author_only(client, world):
    made = await post_checkin(client, world["author"], world["place"])
    path = f"/v1/checkins/{made.json()['id']}"
    assert (await client.get(path, headers=world["author"]["headers"])).status_code == 200
    for who in ("friend", "stranger"):
        assert (await client.get(path, headers=world[who]["headers"])).status_code == 404


async def test_delete_by_author_only(client, world):
    made = await post_checkin(client, world["author"], world["place"], audience={"public": True})
    path = f"/v1/checkins/{made.json()['id']}"
    assert (await client.delete(path, headers=world["stranger"]["headers"])).status_code == 403
    assert (await client.delete(path, headers=world["author"]["headers"])).status_code == 204
    assert (await client.get(path, headers=world["author"]["headers"])).status_code == 404


async def test_someone_elses_circle_is_404(client, world):
    other = (
        await client.post("/v1/circles", json={"name": "x"}, headers=world["friend"]["headers"])
    ).json()
    made = await post_checkin(
        client, world["author"], world["place"], audience={"circles": [other["id"]]}
    )
    assert made.status_code == 404


async def test_plausibility(client, world, session):
    far = await post_checkin(client, world["author"], world["place"], lat=LAT + 0.01)  # ~1.1 km
    assert far.status_code == 422
    assert far.json()["title"] == "Implausible location"
    # The same distance is fine when the phone says it is that imprecise (100 + 2 x 600 m).
    assert (
        await post_checkin(client, world["author"], world["place"], lat=LAT + 0.01, accuracy_m=600)
    ).status_code == 201
    assert (
        await post_checkin(client, world["author"], world["place"], accuracy_m=5000)
    ).status_code == 422
    # Osaka a few seconds after Tokyo: ~400 km in seconds.
    osaka = (
        await create_place(
            client,
            world["author"]["headers"],
            name="Tsutenkaku",
            category="arts",
            lat=34.6525,
            lon=135.5063,
        )
    ).json()
    jump = await post_checkin(client, world["author"], osaka, lat=34.6525, lon=135.5063)
    assert jump.status_code == 422
    assert "km/h" in jump.json()["detail"]


def _start_of_next_minute() -> datetime:
    """A minute boundary a few seconds ahead: close to the servers' clocks (tokens, rows)."""
    return datetime.fromtimestamp((int(time.time()) // 60 + 1) * 60, UTC)


@pytest.mark.redis_cluster
async def test_rate_limit(client, world, time_machine):
    # The clock stands still 1 s into a minute: the eleven posts share one window however slow.
    time_machine.move_to(_start_of_next_minute() + timedelta(seconds=1), tick=False)
    statuses = [
        (await post_checkin(client, world["author"], world["place"])).status_code for _ in range(11)
    ]
    assert statuses == [201] * 10 + [429]


@pytest.mark.redis_cluster
async def test_rate_limit_answer_has_retry_after(client, world, time_machine):
    time_machine.move_to(_start_of_next_minute() + timedelta(seconds=1), tick=False)
    for _ in range(10):
        await post_checkin(client, world["author"], world["place"])
    limited = await post_checkin(client, world["author"], world["place"])
    assert limited.status_code == 429
    assert limited.json()["type"] == "/problems/rate-limited"
    assert limited.headers["retry-after"] == "60", "59 s left in the window, rounded up, plus 1"


@pytest.mark.redis_cluster
async def test_rate_limit_window_is_the_clock_minute(client, world, time_machine):
    boundary = _start_of_next_minute()
    time_machine.move_to(boundary - timedelta(seconds=2), tick=False)
    for _ in range(10):
        assert (await post_checkin(client, world["author"], world["place"])).status_code == 201
    time_machine.move_to(boundary, tick=False)
    assert (await post_checkin(client, world["author"], world["place"])).status_code == 201


@pytest.mark.redis_cluster
async def test_idempotent_retry_returns_first_answer(client, world, session):
    first = await post_checkin(client, world["author"], world["place"], key="k-1")
    again = await post_checkin(client, world["author"], world["place"], key="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = await post_checkin(
        client, world["author"], world["place"], key="k-1", message="changed"
    )
    assert other.status_code == 422
    count = (await session.execute(text("SELECT count(*) FROM checkins"))).scalar_one()
    assert count == 1
    events = (await session.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
    assert events == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"place_id": "999999"}, "body.place_id"),
        ({"place_id": "abc"}, "body.place_id"),
        ({"lat": "NaN"}, "body.lat"),
        ({"lon": "Infinity"}, "body.lon"),
        ({"lat": 91}, "body.lat"),
        ({"lat": "35.6588"}, "body.lat"),
        ({"lon": True}, "body.lon"),
        ({"accuracy_m": False}, "body.accuracy_m"),
        ({"message": "x" * 10_000}, "body.message"),
        ({"accuracy_m": -1}, "body.accuracy_m"),
        ({"accuracy_m": "far"}, "body.accuracy_m"),
        ({"audience": {"circles": "all"}}, "body.audience.circles"),
        ({"public_precision": "street"}, "body.public_precision"),
        ({"audience": {"circles": ["99999999999999999999"]}}, "body.audience.circles.0"),
    ],
)
async def test_bad_checkins_store_nothing(client, world, session, overrides, field):
    response = await post_checkin(client, world["author"], world["place"], **overrides)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert response.headers["content-type"] == "application/problem+json"
    assert (await session.execute(text("SELECT count(*) FROM checkins"))).scalar_one() == 0


async def test_nan_literal_position_is_refused(client, world, session):
    body = '{{"place_id": "{}", "lat": NaN, "lon": 139.7454, "accuracy_m": 20}}'.format(
        world["place"]["id"]
    ).encode()
    response = await client.post(
        "/v1/checkins",
        content=body,
        headers={**world["author"]["headers"], "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["type"] == "finite_number"
    assert (await session.execute(text("SELECT count(*) FROM checkins"))).scalar_one() == 0


async def test_a_boolean_latitude_is_refused_not_read_as_zero(client, world, session):
    # Lax parsing would have taken `false` as 0.0 and `true` as 1.0: a check-in off Africa.
    for value in (False, True):
        response = await post_checkin(client, world["author"], world["place"], lat=value)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"] == [
            {"field": "body.lat", "message": "Input should be a valid number", "type": "float_type"}
        ]
    assert (await session.execute(text("SELECT count(*) FROM checkins"))).scalar_one() == 0
