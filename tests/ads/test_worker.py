"""The ledger writer: idempotent by impression id, and it survives Redis losing its groups."""

from sqlalchemy import text

from geo.ads import keys
from geo.ads.worker import drain, ensure_groups, read_batch, write_batch
from tests.ads.factories import business_with_place, create_campaign, nearby_ads


async def _ledger_count(session) -> int:  # type: ignore[no-untyped-def]
    return (await session.execute(text("SELECT count(*) FROM ad_impressions"))).scalar_one()


async def test_a_redelivered_batch_inserts_nothing_twice(client, app, redis, session, member):
    owner, place = await business_with_place(client)
    campaign = await create_campaign(client, owner, place, holdout_share=0)
    await nearby_ads(client, member)
    await ensure_groups(redis)
    batch = await read_batch(redis, "c1", block_ms=None, count=10)
    stream = keys.events_for(int(campaign["id"]))
    assert [len(entries) for entries in batch.values()] == [1]
    assert await write_batch(app.state.db, redis, batch) == 1
    # As if the consumer died after the commit and before the ack: the same entries again.
    assert await write_batch(app.state.db, redis, batch) == 1
    assert await _ledger_count(session) == 1
    assert await redis.xlen(stream) == 0, "committed entries are deleted from the stream"


async def test_the_writer_recreates_its_group_after_redis_lost_it(
    client, app, redis, session, member
):
    owner, place = await business_with_place(client)
    await create_campaign(client, owner, place, holdout_share=0)
    await ensure_groups(redis)
    await redis.flushdb()
    assert await read_batch(redis, "c1", block_ms=None, count=10) == {}
    await nearby_ads(client, member)  # leases afresh and appends to a new stream
    assert await drain(app.state.db, redis) == 1
    assert await _ledger_count(session) == 1
