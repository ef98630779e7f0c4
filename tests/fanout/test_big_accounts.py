"""A 20,000-follower account's check-in is split into chunk entries of a bulk stream: it reaches
every follower exactly once, and normal check-ins posted right before or after it are not stuck
behind it."""

import os

import pytest
from sqlalchemy import text

from geo.fanout import keys, service
from geo.fanout.stream import CHUNK
from geo.fanout.worker import consume_once, drain, ensure_group, relay_once
from tests.checkins.factories import post_checkin

FOLLOWERS = 20_000


@pytest.fixture
async def celebrity(client, session, world) -> dict:
    """world's author, followed by FOLLOWERS accounts made in bulk (no sign-up needed)."""
    author_id = int(world["author"]["id"])
    fans = (
        (
            await session.execute(
                text("""
        INSERT INTO accounts (handle, password_hash, kind)
        SELECT :prefix || g, '!', 'member' FROM generate_series(1, :n) g RETURNING id"""),
                {"prefix": f"fan{os.getpid()}_", "n": FOLLOWERS},
            )
        )
        .scalars()
        .all()
    )
    await session.execute(
        text("""
        INSERT INTO follows (follower_id, followee_id) SELECT unnest(CAST(:f AS bigint[])), :a"""),
        {"f": list(fans), "a": author_id},
    )
    await session.flush()
    # A normal account (the friend) with one follower.
    await client.post(f"/v1/follows/{world['friend']['id']}", headers=world["follower"]["headers"])
    return {**world, "fans": sorted(fans)}


async def _has(redis, account_id: int, checkin_id: str) -> bool:
    return await redis.zscore(keys.home(account_id), checkin_id) is not None


async def _reached(redis, accounts: list[int], checkin_id: str) -> int:
    async with redis.pipeline(transaction=False) as pipe:
        for account in accounts:
            pipe.zscore(keys.home(account), checkin_id)
        return sum(score is not None for score in await pipe.execute())


async def test_normal_checkins_are_not_stuck_behind_the_big_one(app, client, redis, celebrity):
    db, follower = app.state.db, int(celebrity["follower"]["id"])
    await drain(db, redis)  # events other tests committed must not take this test's steps
    big = (
        await post_checkin(
            client, celebrity["author"], celebrity["place"], audience={"public": True}
        )
    ).json()["id"]
    before = (
        await post_checkin(
            client, celebrity["friend"], celebrity["place"], audience={"public": True}
        )
    ).json()["id"]
    await ensure_group(redis)
    assert await relay_once(db, redis) == 2
    # Step 1 splits the big delivery; its author already sees it, its followers not yet.
    assert await consume_once(db, redis, "steps", block_ms=1, count=1) == 1
    assert await _has(redis, int(celebrity["author"]["id"]), big)
    assert await _reached(redis, celebrity["fans"], big) == 0
    chunks = -(-FOLLOWERS // CHUNK)
    assert await redis.xlen(keys.BULK) == chunks
    # A check-in posted after the split is delivered at the next step, ahead of most chunks.
    after = (
        await post_checkin(
            client, celebrity["follower"], celebrity["place"], audience={"public": True}
        )
    ).json()["id"]
    await client.post(
        f"/v1/follows/{celebrity['follower']['id']}", headers=celebrity["stranger"]["headers"]
    )
    assert await relay_once(db, redis) == 1

    # Drain one batch at a time and note the step at which each delivery is complete.
    done_at: dict[str, int] = {}
    step = 1
    # Each chunk's last recipient stands for its chunk while stepping; all are checked at the end.
    probes = celebrity["fans"][CHUNK - 1 :: CHUNK]
    stranger = int(celebrity["stranger"]["id"])
    while await consume_once(db, redis, "steps", block_ms=1, count=1):
        step += 1
        if before not in done_at and await _has(redis, follower, before):
            done_at[before] = step
        if after not in done_at and await _has(redis, stranger, after):
            done_at[after] = step
        if big not in done_at and await _reached(redis, probes, big) == len(probes):
            done_at[big] = step
    assert done_at[before] == 2
    assert done_at[after] == 3
    assert done_at[big] > 3
    assert await _reached(redis, celebrity["fans"], big) == FOLLOWERS
    assert await redis.zcard(keys.home(stranger)) == 1  # only what it follows: `after`
    assert await redis.zscore(keys.public_global(), big) is not None
    for stream in (keys.STREAM, keys.BULK):
        assert (await redis.xinfo_groups(stream))[0]["pending"] == 0


async def test_a_redelivered_split_adds_no_chunks(app, client, redis, session, celebrity):
    big = (
        await post_checkin(
            client, celebrity["author"], celebrity["place"], audience={"public": True}
        )
    ).json()["id"]
    for _ in range(2):  # the second time stands for a worker that died before its XACK
        await service.handle_event(session, redis, "checkin.created", {"checkin_id": big})
    assert await redis.xlen(keys.BULK) == -(-FOLLOWERS // CHUNK)
    await ensure_group(redis)
    await drain(app.state.db, redis)
    assert await _reached(redis, celebrity["fans"], big) == FOLLOWERS
    sizes = {await redis.zcard(keys.home(fan)) for fan in celebrity["fans"][::997]}
    assert sizes == {1}


async def test_chunks_of_a_deleted_checkin_deliver_nothing(app, client, redis, celebrity):
    big = (
        await post_checkin(
            client, celebrity["author"], celebrity["place"], audience={"public": True}
        )
    ).json()["id"]
    await ensure_group(redis)
    await relay_once(app.state.db, redis)
    await consume_once(app.state.db, redis, "steps", block_ms=1, count=1)  # the split
    deleted = await client.delete(f"/v1/checkins/{big}", headers=celebrity["author"]["headers"])
    assert deleted.status_code == 204
    await drain(app.state.db, redis)
    assert await _reached(redis, celebrity["fans"], big) == 0
