"""Redis is not the source of truth: after FLUSHDB, `geo rebuild-feeds` (`rebuild_feeds`) brings
every feed to what the model says: each home holds what its owner receives by today's graph (a
follower gained since the check-ins included), safety reports too, and the public stream every
public item; nothing for anyone else."""

import pytest

from geo.accounts import service as accounts
from geo.fanout import keys
from geo.fanout.service import rebuild_feeds
from geo.fanout.worker import drain
from tests.checkins.factories import LAT, LON, post_checkin
from tests.conftest import make_account

pytestmark = pytest.mark.redis_cluster


async def _held(redis, key: str) -> dict[int, float]:  # type: ignore[no-untyped-def]
    return {int(m): s for m, s in await redis.zrange(key, 0, -1, withscores=True)}


async def _safety_report(app, client, session, author: dict) -> int:  # type: ignore[no-untyped-def]
    """A private safety report by `author` in an emergency declared around them."""
    _, token = await accounts.create_operator(
        session, handle=f"op{author['id']}", settings=app.state.settings
    )
    declared = await client.post(
        "/v1/emergencies",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": "rebuild quake", "area": {"lat": LAT, "lon": LON, "radius_m": 5000}},
    )
    assert declared.status_code == 201, declared.text
    made = await client.post(
        f"/v1/emergencies/{declared.json()['id']}/safety",
        headers=author["headers"],
        json={"status": "safe", "lat": LAT, "lon": LON, "accuracy_m": 20},
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


async def test_flush_then_rebuild_gives_what_the_model_says(app, client, redis, session, world):
    author, friend, follower = world["author"], world["friend"], world["follower"]
    await client.post(f"/v1/follows/{author['id']}", headers=follower["headers"])
    circle = {"circles": [world["circle"]["id"]]}
    audiences = [circle, {"public": True}, {**circle, "public": True}, {}]
    made = []
    for i, audience in enumerate(audiences):
        response = await post_checkin(
            client, author, world["place"], audience=audience, message=f"{i}"
        )
        made.append(int(response.json()["id"]))
    report = await _safety_report(app, client, session, author)
    late = await make_account(client)  # follows after the check-ins were delivered
    await drain(app.state.db, redis)
    await client.post(f"/v1/follows/{author['id']}", headers=late["headers"])
    await drain(app.state.db, redis)
    assert await _held(redis, keys.home(int(late["id"]))) == {}, "the fan-out does not back-fill"

    await redis.flushdb()
    assert await rebuild_feeds(session, redis) >= 5
    circle_ids, public_ids = {made[0], made[2]}, {made[1], made[2]}
    model = {
        author["id"]: set(made) | {report},
        friend["id"]: circle_ids | {report},  # a report goes to all friends by default
        follower["id"]: public_ids,
        late["id"]: public_ids,  # today's graph: the late follower receives the public ones
        world["stranger"]["id"]: set(),
    }
    for account_id, expected in model.items():
        held = await _held(redis, keys.home(int(account_id)))
        assert set(held) == expected, account_id
        assert all(score == keys.score(i) for i, score in held.items())
    assert set(await _held(redis, keys.public_global())) == public_ids
