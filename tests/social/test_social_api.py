from sqlalchemy import text

from geo.social import service
from tests.conftest import make_account
from tests.social.factories import befriend


async def test_friend_request_accept_and_list(client):
    a, b = await make_account(client), await make_account(client)
    sent = await client.post("/v1/friend-requests", json={"to": b["id"]}, headers=a["headers"])
    assert sent.status_code == 201
    assert sent.json() | {"id": "x"} == {
        "id": "x",
        "from": a["id"],
        "to": b["id"],
        "status": "pending",
    }
    # Only the addressee may accept: the sender is refused (403), a stranger sees nothing (404).
    stranger = await make_account(client)
    rid = sent.json()["id"]
    assert (
        await client.post(f"/v1/friend-requests/{rid}/accept", headers=a["headers"])
    ).status_code == 403
    assert (
        await client.post(f"/v1/friend-requests/{rid}/accept", headers=stranger["headers"])
    ).status_code == 404
    accepted = await client.post(f"/v1/friend-requests/{rid}/accept", headers=b["headers"])
    assert accepted.json()["status"] == "accepted"
    for me, other in ((a, b), (b, a)):
        friends = (await client.get("/v1/friends", headers=me["headers"])).json()
        assert [f["id"] for f in friends["items"]] == [other["id"]]


async def test_bad_friend_requests(client):
    a, b = await make_account(client), await make_account(client)
    assert (
        await client.post("/v1/friend-requests", json={"to": a["id"]}, headers=a["headers"])
    ).status_code == 422
    assert (
        await client.post("/v1/friend-requests", json={"to": "123"}, headers=a["headers"])
    ).status_code == 404
    assert (
        await client.post("/v1/friend-requests", json={"to": b["id"]}, headers=a["headers"])
    ).status_code == 201
    duplicate = await client.post("/v1/friend-requests", json={"to": b["id"]}, headers=a["headers"])
    assert duplicate.status_code == 409


async def test_crossing_requests_make_friends(client):
    a, b = await make_account(client), await make_account(client)
    await client.post("/v1/friend-requests", json={"to": b["id"]}, headers=a["headers"])
    crossing = await client.post("/v1/friend-requests", json={"to": a["id"]}, headers=b["headers"])
    assert crossing.status_code == 201
    assert crossing.json()["status"] == "accepted"
    assert len((await client.get("/v1/friends", headers=a["headers"])).json()["items"]) == 1


async def test_circles_need_friends_and_belong_to_owner(client):
    owner, friend, stranger = [await make_account(client) for _ in range(3)]
    await befriend(client, owner, friend)
    bad = await client.post(
        "/v1/circles", json={"name": "close", "members": [stranger["id"]]}, headers=owner["headers"]
    )
    assert bad.status_code == 422
    assert stranger["id"] in str(bad.json()["errors"])
    huge = await client.post(
        "/v1/circles",
        json={"name": "x", "members": ["9623269866374414519"]},
        headers=owner["headers"],
    )
    assert huge.status_code == 422
    made = await client.post(
        "/v1/circles", json={"name": "close", "members": [friend["id"]]}, headers=owner["headers"]
    )
    assert made.status_code == 201
    circle = made.json()
    assert circle["members"] == [friend["id"]]
    path = f"/v1/circles/{circle['id']}"
    for other in (friend, stranger):
        assert (await client.get(path, headers=other["headers"])).status_code == 404
        assert (
            await client.put(path, json={"name": "x"}, headers=other["headers"])
        ).status_code == 404
        assert (await client.delete(path, headers=other["headers"])).status_code == 404
    renamed = await client.put(path, json={"name": "family"}, headers=owner["headers"])
    assert renamed.json()["name"] == "family"
    assert renamed.json()["members"] == [friend["id"]]
    listed = (await client.get("/v1/circles", headers=owner["headers"])).json()
    assert [c["id"] for c in listed["items"]] == [circle["id"]]
    assert (await client.delete(path, headers=owner["headers"])).status_code == 204
    assert (await client.get(path, headers=owner["headers"])).status_code == 404


async def test_unfriend_removes_from_each_others_circles(client, session):
    a, b = await make_account(client), await make_account(client)
    await befriend(client, a, b)
    ca = (
        await client.post(
            "/v1/circles", json={"name": "c", "members": [b["id"]]}, headers=a["headers"]
        )
    ).json()
    cb = (
        await client.post(
            "/v1/circles", json={"name": "c", "members": [a["id"]]}, headers=b["headers"]
        )
    ).json()
    assert (await client.delete(f"/v1/friends/{b['id']}", headers=a["headers"])).status_code == 204
    for me, circle in ((a, ca), (b, cb)):
        got = await client.get(f"/v1/circles/{circle['id']}", headers=me["headers"])
        assert got.json()["members"] == []
    assert (await client.delete(f"/v1/friends/{b['id']}", headers=a["headers"])).status_code == 404


async def test_block_ends_everything_both_ways(client, session):
    a, b = await make_account(client), await make_account(client)
    await befriend(client, a, b)
    await client.post("/v1/circles", json={"name": "c", "members": [b["id"]]}, headers=a["headers"])
    await client.post(f"/v1/follows/{a['id']}", headers=b["headers"])
    await client.post(f"/v1/follows/{b['id']}", headers=a["headers"])
    assert (await client.post(f"/v1/blocks/{b['id']}", headers=a["headers"])).status_code == 204
    counts = (
        await session.execute(
            text(
                """SELECT (SELECT count(*) FROM friendships WHERE a_id IN (:a, :b)),
                  (SELECT count(*) FROM follows WHERE follower_id IN (:a, :b)),
                  (SELECT count(*) FROM circle_members WHERE member_id IN (:a, :b))"""
            ),
            {"a": int(a["id"]), "b": int(b["id"])},
        )
    ).one()
    assert tuple(counts) == (0, 0, 0)
    # The blocked account cannot tell a block from a missing account.
    assert (
        await client.post("/v1/friend-requests", json={"to": a["id"]}, headers=b["headers"])
    ).status_code == 404
    assert (await client.post(f"/v1/follows/{a['id']}", headers=b["headers"])).status_code == 404
    # The blocker is told plainly.
    assert (await client.post(f"/v1/follows/{b['id']}", headers=a["headers"])).status_code == 422
    assert (await client.delete(f"/v1/blocks/{b['id']}", headers=a["headers"])).status_code == 204
    assert (await client.post(f"/v1/follows/{a['id']}", headers=b["headers"])).status_code == 204


async def test_fanout_reads(client, session):
    author, f1, f2, f3, fan = [await make_account(client) for _ in range(5)]
    for f in (f1, f2, f3):
        await befriend(client, author, f)
    circle = (
        await client.post(
            "/v1/circles",
            json={"name": "c", "members": [f1["id"], f2["id"], f3["id"]]},
            headers=author["headers"],
        )
    ).json()
    await client.delete(f"/v1/friends/{f2['id']}", headers=author["headers"])
    await client.post(f"/v1/blocks/{author['id']}", headers=f3["headers"])
    await client.post(f"/v1/follows/{author['id']}", headers=fan["headers"])
    await client.post(f"/v1/follows/{author['id']}", headers=f1["headers"])
    audience = await service.circle_audience(
        session, author_id=int(author["id"]), circle_ids=[int(circle["id"])]
    )
    assert audience == [int(f1["id"])]
    assert sorted(await service.followers(session, account_id=int(author["id"]))) == sorted(
        [int(fan["id"]), int(f1["id"])]
    )
    assert await service.blocked_either_way(session, int(author["id"]), int(f3["id"]))
