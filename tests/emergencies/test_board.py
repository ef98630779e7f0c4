"""The friends' board: only friends, only while active, never finer than each friend allows."""

from tests.checkins.factories import post_checkin
from tests.conftest import make_account
from tests.emergencies.factories import TOKYO_TOWER, report
from tests.social.factories import befriend


async def _board(client, who, emergency) -> object:
    return await client.get(f"/v1/emergencies/{emergency['id']}/friends", headers=who["headers"])


def _by_handle(response) -> dict:
    assert response.status_code == 200, response.text
    return {i["account"]["handle"]: i for i in response.json()["items"]}


async def test_last_seen_shows_only_to_those_who_see_the_venue(client, quake):
    author = quake["author"]["handle"]
    close = _by_handle(await _board(client, quake["close"], quake["emergency"]))
    assert close[author]["status"] == "unknown"
    assert close[author]["last_seen_at"] is not None
    assert close[author]["place"]["precision"] == "exact"
    assert close[author]["place"]["name"] == "Tokyo Tower"
    # A friend outside the circle of that check-in may not learn it: not on their board.
    assert _by_handle(await _board(client, quake["friend"], quake["emergency"])) == {}
    for who in ("stranger", "follower"):
        assert _by_handle(await _board(client, quake[who], quake["emergency"])) == {}


async def test_a_report_shows_its_status_to_its_audience_only(client, quake):
    lat, lon = TOKYO_TOWER
    made = await report(
        client,
        quake["author"],
        quake["emergency"],
        status="need_help",
        message="trapped, 3F",
        lat=lat,
        lon=lon,
        accuracy_m=15,
        audience={"circles": [quake["circle"]["id"]]},
    )
    assert made.status_code == 201, made.text
    author = quake["author"]["handle"]
    close = _by_handle(await _board(client, quake["close"], quake["emergency"]))[author]
    assert close["status"] == "need_help"
    assert close["message"] == "trapped, 3F"
    assert close["reported_at"] is not None
    assert close["place"] == {"precision": "exact", "lat": lat, "lon": lon}
    assert _by_handle(await _board(client, quake["friend"], quake["emergency"])) == {}
    # A later report to all friends replaces it on the board (one current status per person).
    await report(client, quake["author"], quake["emergency"], status="safe", message="out")
    friend = _by_handle(await _board(client, quake["friend"], quake["emergency"]))[author]
    assert friend["status"] == "safe"
    assert friend["place"] is None
    close = _by_handle(await _board(client, quake["close"], quake["emergency"]))[author]
    assert close["status"] == "safe"
    assert close["message"] == "out"


async def test_a_public_checkin_at_area_precision_places_no_one(client, quake):
    walker = await make_account(client)
    await befriend(client, walker, quake["stranger"])
    made = await post_checkin(
        client, walker, quake["place"], audience={"public": True}, public_precision="area"
    )
    assert made.status_code == 201, made.text
    board = _by_handle(await _board(client, quake["stranger"], quake["emergency"]))
    assert walker["handle"] not in board
    exact = await post_checkin(
        client, walker, quake["place"], audience={"public": True}, public_precision="exact"
    )
    assert exact.status_code == 201, exact.text
    board = _by_handle(await _board(client, quake["stranger"], quake["emergency"]))
    assert board[walker["handle"]]["status"] == "unknown"


async def test_the_board_is_gone_when_the_emergency_ends(client, quake):
    await report(client, quake["author"], quake["emergency"])
    assert (await _board(client, quake["close"], quake["emergency"])).status_code == 200
    await client.patch(
        f"/v1/emergencies/{quake['emergency']['id']}",
        json={"status": "ended"},
        headers=quake["operator"]["headers"],
    )
    for who in ("close", "friend", "author", "stranger"):
        assert (await _board(client, quake[who], quake["emergency"])).status_code == 404
    missing = await client.get("/v1/emergencies/77/friends", headers=quake["close"]["headers"])
    assert missing.status_code == 404
    assert (
        await client.get(f"/v1/emergencies/{quake['emergency']['id']}/friends")
    ).status_code == 401


async def test_a_blocked_friend_sees_nothing(client, quake):
    await report(client, quake["author"], quake["emergency"])
    await client.post(f"/v1/blocks/{quake['friend']['id']}", headers=quake["author"]["headers"])
    assert _by_handle(await _board(client, quake["friend"], quake["emergency"])) == {}
