"""At most GEO_MAX_STREAMS_PER_ACCOUNT live streams per account, counted in Redis across processes
(here: separate Redis clients, as separate processes would hold); one more is a 429 problem with
Retry-After; a stream that ends gives its slot back."""

import pytest

from geo.core.auth import Actor
from geo.core.config import Settings
from geo.core.errors import TooManyRequests
from geo.core.redis import create_redis
from geo.fanout import stream_slots
from geo.fanout.live import home_events

pytestmark = pytest.mark.redis_cluster


def _other_process_redis(redis):  # type: ignore[no-untyped-def]
    """A second client on the same server(s), standing for another API process."""
    pool = getattr(redis, "connection_pool", None)
    if pool is not None:
        kwargs = pool.connection_kwargs
        url = f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"
    else:
        node = redis.get_primaries()[0]
        url = f"redis+cluster://{node.host}:{node.port}"
    return create_redis(Settings(redis_url=url))


async def test_one_stream_more_than_the_limit_is_429_with_retry_after(
    app, client, redis, member, settings: Settings
):
    account_id, limit = int(member["id"]), settings.max_streams_per_account
    other = _other_process_redis(redis)
    try:
        held = [await stream_slots.acquire(other, account_id, limit=limit) for _ in range(limit)]
    finally:
        await other.aclose()
    response = await client.get("/v1/timelines/home/stream", headers=member["headers"])
    assert response.status_code == 429
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 429
    assert 1 <= int(response.headers["Retry-After"]) <= stream_slots.SLOT_TTL_S
    # Another account is not affected.
    with pytest.raises(TooManyRequests):
        await stream_slots.acquire(redis, account_id, limit=limit)
    await stream_slots.acquire(redis, account_id + 1, limit=limit)

    # One slot given back: a stream opens (and ends after max_seconds, giving its slot back).
    await held[0].release()
    response = await client.get(
        "/v1/timelines/home/stream", params={"max_seconds": 1}, headers=member["headers"]
    )
    assert response.status_code == 200
    assert response.text.startswith(": connected\n\n")
    assert await stream_slots.open_count(redis, account_id) == limit - 1


async def test_a_closed_stream_frees_its_slot(app, redis, member, settings: Settings):
    account_id, limit = int(member["id"]), settings.max_streams_per_account
    actor = Actor(id=account_id, handle=member["handle"], kind="member")
    streams = []
    for _ in range(limit):
        slot = await stream_slots.acquire(redis, account_id, limit=limit)
        streams.append(home_events(app.state.db, redis, actor, max_seconds=30, slot=slot))
        assert await anext(streams[-1]) == b": connected\n\n"
    with pytest.raises(TooManyRequests):
        await stream_slots.acquire(redis, account_id, limit=limit)
    await streams.pop().aclose()  # the client went away
    assert await stream_slots.open_count(redis, account_id) == limit - 1
    await stream_slots.acquire(redis, account_id, limit=limit)
    for stream in streams:
        await stream.aclose()
    assert await stream_slots.open_count(redis, account_id) == 1


async def test_a_lapsed_slot_is_swept(redis):
    """A process that died without giving its slots back locks nobody out for long: a slot whose
    lapse time has passed is not counted (the lapse time is set here, not waited for)."""
    slot = await stream_slots.acquire(redis, 42, limit=1)
    with pytest.raises(TooManyRequests):
        await stream_slots.acquire(redis, 42, limit=1)
    await redis.zadd(slot.key, {slot.slot_id: 0})  # as if its last renewal were long ago
    await stream_slots.acquire(redis, 42, limit=1)


async def test_open_streams_write_their_slots_back_after_redis_lost_them(app, redis, member):
    actor = Actor(id=int(member["id"]), handle=member["handle"], kind="member")
    slot = await stream_slots.acquire(redis, actor.id, limit=1)
    stream = home_events(app.state.db, redis, actor, max_seconds=30, slot=slot)
    assert await anext(stream) == b": connected\n\n"
    await redis.delete(slot.key)  # as after a Redis restart without persistence
    await stream_slots.Renewer.of(redis).renew_all()  # what the process does every RENEW_S
    with pytest.raises(TooManyRequests):
        await stream_slots.acquire(redis, actor.id, limit=1)
    await stream.aclose()
    assert await stream_slots.open_count(redis, actor.id) == 0
    assert stream_slots.Renewer.of(redis).task is None  # nothing left to renew
