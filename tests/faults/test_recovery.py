"""Redis loses its data under the fan-out (a private redis-server killed and restarted empty):
the workers heal without a restart, every check-in answered 201 is delivered exactly once, and the
timelines come back to what the model says.

Delivery is counted where loss and duplication both show: the timelines are checked below their
cap against the model (every check-in in every recipient's timeline, nothing in anyone else's),
the live announcements of the new epoch are counted per (recipient, check-in), and a big
account's chunks are counted per recipient from the bulk stream's entries.
"""

import asyncio
import json
import logging
import os
from collections import Counter

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from geo.fanout import keys, recovery, service
from geo.fanout.feed_store import FeedStore
from geo.fanout.stream import CHUNK, DELIVER_TOPIC
from geo.fanout.worker import _forever, _take, consume_once, drain, relay_once
from tests.checkins.factories import post_checkin
from tests.conftest import _unavailable, make_account
from tests.fixtures.private_servers import PrivateRedis


@pytest.fixture
def lossy_redis() -> PrivateRedis:  # type: ignore[misc]
    """No persistence: every restart comes back empty, as a Redis that lost its data."""
    try:
        server = PrivateRedis.start(persist=False)
    except FileNotFoundError as exc:
        _unavailable(f"cannot start a private Redis: {exc}")
    yield server
    server.remove()


@pytest.fixture
async def private(app, lossy_redis):  # type: ignore[no-untyped-def]
    """The app (and the workers run inline) on the private Redis."""
    client = Redis.from_url(lossy_redis.url)
    app.state.redis = client
    yield client
    await client.aclose()


async def lose_data(server: PrivateRedis, client: Redis) -> None:
    """kill -9 and back empty. The client's pooled connections died with the server: a worker's
    round fails on them once and is retried (the loop test shows it); here they are dropped."""
    server.kill()
    server.restart(keep_data=False)
    await client.connection_pool.disconnect()


async def _follow(client, who: dict, whom: dict) -> None:  # type: ignore[no-untyped-def]
    response = await client.post(f"/v1/follows/{whom['id']}", headers=who["headers"])
    assert response.status_code == 204, response.text


async def _post(client, author: dict, place: dict, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    ids = []
    for i in range(n):
        made = await post_checkin(client, author, place, audience={"public": True}, message=f"p{i}")
        assert made.status_code == 201, made.text
        ids.append(int(made.json()["id"]))
    return ids


async def _home(redis, account: dict) -> set[int]:  # type: ignore[no-untyped-def]
    return {int(m) for m in await redis.zrange(keys.home(int(account["id"])), 0, -1)}


async def _announcements(pubsub) -> Counter[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Everything announced so far, per (channel, message)."""
    seen: Counter[tuple[str, str]] = Counter()
    while (message := await pubsub.get_message(timeout=0.5)) is not None:
        seen[(message["channel"].decode(), message["data"].decode())] += 1
    return seen


async def test_every_checkin_is_delivered_exactly_once_across_an_empty_restart(
    app,
    client,
    session,
    private,
    lossy_redis,
    world,
):
    db, redis = app.state.db, private
    a, f, r1, r2 = world["author"], world["friend"], world["follower"], world["stranger"]
    loner = await make_account(client)
    # A's public check-ins reach A, F, R1, R2; F's reach F, A, R1; the loner follows nobody.
    for who, whom in [(f, a), (a, f), (r1, a), (r1, f), (r2, a)]:
        await _follow(client, who, whom)
    before = await _post(client, a, world["place"], 4) + await _post(client, f, world["place"], 4)
    assert await relay_once(db, redis) >= 8
    await consume_once(db, redis, "w1", count=3, block_ms=1)  # 3 delivered, 5 in the stream

    await lose_data(lossy_redis, redis)
    # The running worker's next round: the group is gone (NOGROUP) and is recreated, no error.
    assert await consume_once(db, redis, "w1", block_ms=1) == 0
    assert await redis.xinfo_groups(keys.STREAM) != []
    done = await recovery.recover_if_lost(db, redis)
    assert done is not None
    assert done.resent >= 8
    assert await recovery.recover_if_lost(db, redis) is None, "once per epoch"

    everyone = [a, f, r1, r2, loner]
    pubsub = redis.pubsub()
    for p in everyone:  # one at a time: shard channels of one SSUBSCRIBE share a slot
        await pubsub.ssubscribe(keys.live_home(int(p["id"])))
        confirmed = await pubsub.get_message(timeout=5)
        assert confirmed is not None
        assert confirmed["type"] == "ssubscribe"
        await FeedStore(redis).register_listener(int(p["id"]))
    after = await _post(client, a, world["place"], 3) + await _post(client, f, world["place"], 3)
    await drain(db, redis)
    heard = await _announcements(pubsub)
    await pubsub.aclose()

    by_a = set(before[:4] + after[:3])
    by_f = set(before[4:] + after[3:])
    model = {"a": by_a | by_f, "f": by_a | by_f, "r1": by_a | by_f, "r2": by_a, "loner": set()}
    # Below the cap (800): each timeline holds exactly its check-ins, none lost, none extra.
    for name, who in zip(model, everyone, strict=True):
        assert await _home(redis, who) == model[name], name
    # The outbox: one row per check-in, every one relayed; the streams: nothing left pending.
    rows = (
        await session.execute(
            text("""SELECT count(*), bool_and(sent_at IS NOT NULL) FROM outbox
                    WHERE topic = 'checkin.created'
                      AND (payload->>'checkin_id')::bigint = ANY(CAST(:ids AS bigint[]))
                    GROUP BY payload->>'checkin_id'"""),
            {"ids": before + after},
        )
    ).all()
    assert sorted(rows) == [(1, True)] * 14
    for stream in (keys.STREAM, keys.BULK, keys.PRIORITY):
        assert (await redis.xpending(stream, keys.GROUP))["pending"] == 0
    # The new epoch's live announcements: never twice, and each post-recovery check-in once.
    assert max(heard.values()) == 1, heard
    for name, who in zip(model, everyone, strict=True):
        channel = keys.live_home(int(who["id"]))
        for checkin_id in model[name] & set(after):
            assert heard[(channel, str(checkin_id))] == 1, (name, checkin_id)
        assert {int(m) for (c, m) in heard if c == channel} <= model[name], name


async def test_a_home_is_regenerated_once_per_epoch_on_its_first_read(
    app,
    client,
    private,
    lossy_redis,
    world,
):
    db, redis = app.state.db, private
    a, reader, loner = world["author"], world["follower"], world["stranger"]
    await _follow(client, reader, a)
    posted = await _post(client, a, world["place"], 3)
    await drain(db, redis)
    await lose_data(lossy_redis, redis)
    await recovery.recover_if_lost(db, redis)
    assert await _home(redis, reader) == set(), "not active: left for its first read"

    page = await client.get("/v1/timelines/home", headers=reader["headers"])
    assert [int(i["id"]) for i in page.json()["items"]] == sorted(posted, reverse=True)
    # The loner's empty home is "regenerated" on its first read too, and never again: following
    # A now must not back-fill A's earlier check-ins (the fan-out delivers from now on).
    assert (await client.get("/v1/timelines/home", headers=loner["headers"])).json()["items"] == []
    await _follow(client, loner, a)
    assert (await client.get("/v1/timelines/home", headers=loner["headers"])).json()["items"] == []
    # An account made after the loss lost nothing: marked, not regenerated.
    newcomer = await make_account(client)
    await _follow(client, newcomer, a)
    assert (await client.get("/v1/timelines/home", headers=newcomer["headers"])).json()[
        "items"
    ] == []


async def test_the_worker_loop_outlives_redis_going_away_and_coming_back_empty(
    app,
    client,
    private,
    lossy_redis,
    world,
    caplog,
):
    db, redis = app.state.db, private
    a, reader = world["author"], world["follower"]
    await _follow(client, reader, a)
    posted = await _post(client, a, world["place"], 3)
    lossy_redis.kill()

    stopping, parked = asyncio.Event(), asyncio.Event()

    async def step() -> None:  # one task: the test's one database connection serves it alone
        if stopping.is_set():  # parked outside any transaction, where cancelling it is safe
            parked.set()
            await asyncio.Event().wait()
        await recovery.recover_if_lost(db, redis)
        await relay_once(db, redis)
        await consume_once(db, redis, "loop", block_ms=10)

    caplog.set_level(logging.ERROR, logger="geo.fanout.worker")
    loop = asyncio.create_task(_forever(step, "test round"))
    try:
        for _ in range(400):  # bounded wait (20 s) until a round failed on the dead Redis
            if any("failed; retrying" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.05)
        assert any("failed; retrying" in r.getMessage() for r in caplog.records)
        assert not loop.done(), "the loop must not end while Redis is down"
        lossy_redis.restart(keep_data=False)
        for _ in range(400):  # bounded wait (20 s), not a timing assertion
            if await _home(redis, reader) == set(posted):
                break
            await asyncio.sleep(0.05)
        assert await _home(redis, reader) == set(posted)
        assert not loop.done()
    finally:
        stopping.set()
        await asyncio.wait_for(parked.wait(), 20)
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop


FANS = 2 * CHUNK + 500  # three chunks


async def test_an_empty_restart_in_the_middle_of_a_big_delivery_delivers_each_chunk_once(
    app,
    client,
    session,
    private,
    lossy_redis,
    world,
):
    db, redis = app.state.db, private
    author_id = int(world["author"]["id"])
    fans = (
        (
            await session.execute(
                text("""INSERT INTO accounts (handle, password_hash, kind)
                        SELECT :prefix || g, '!', 'member' FROM generate_series(1, :n) g
                        RETURNING id"""),
                {"prefix": f"rfan{os.getpid()}_", "n": FANS},
            )
        )
        .scalars()
        .all()
    )
    await session.execute(
        text("""INSERT INTO follows (follower_id, followee_id)
                SELECT unnest(CAST(:f AS bigint[])), :a"""),
        {"f": list(fans), "a": author_id},
    )
    await session.flush()
    (big,) = await _post(client, world["author"], world["place"], 1)
    await relay_once(db, redis)
    await consume_once(db, redis, "w1", block_ms=1)  # split: three chunk entries
    assert await redis.xlen(keys.BULK) == 3
    # One chunk delivered, its XACK never sent (the worker dies with it): then Redis loses it all.
    entries = await _take(redis, keys.BULK, "w1", 1)
    async with db.sessionmaker() as s, s.begin():
        await service.handle_batch(
            s, redis, [(e[b"topic"].decode(), json.loads(e[b"payload"])) for _, e in entries]
        )
    await lose_data(lossy_redis, redis)

    await consume_once(db, redis, "w1", block_ms=1)  # NOGROUP: recreated in the loop
    await recovery.recover_if_lost(db, redis)
    await drain(db, redis)

    chunks = [
        json.loads(fields[b"payload"])
        for _, fields in await redis.xrange(keys.BULK)
        if fields[b"topic"].decode() == DELIVER_TOPIC
    ]
    per_fan = Counter(
        int(r) for c in chunks if int(c["checkin_id"]) == big for r in c["recipients"]
    )
    assert set(per_fan) == set(fans), "every fan in a chunk"
    assert set(per_fan.values()) == {1}, "no fan in two chunks"
    async with redis.pipeline(transaction=False) as pipe:
        for fan in fans:
            pipe.zscore(keys.home(fan), str(big))
        scores = await pipe.execute()
    assert all(s is not None for s in scores), "every fan has it"
    assert await redis.zscore(keys.home(author_id), str(big)) is not None
    assert await _home(redis, world["stranger"]) == set()
    for stream in (keys.STREAM, keys.BULK):
        assert (await redis.xpending(stream, keys.GROUP))["pending"] == 0
