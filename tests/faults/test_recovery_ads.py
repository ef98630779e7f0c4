"""Redis loses the ads' state (FLUSHDB of this test's own Redis database): frequency caps come
back from the ledger before anything more is charged, and spend stays within what PostgreSQL
leased, which stays within the budget."""

import pytest
from sqlalchemy import text

from geo.ads import keys
from geo.ads.worker import drain
from tests.ads.factories import business_with_place, create_campaign, nearby_ads
from tests.conftest import make_account

pytestmark = pytest.mark.usefixtures("fresh_ads_index")


async def test_caps_and_budgets_hold_after_redis_loses_its_data(app, client, redis, session):
    owner, place = await business_with_place(client)
    campaign = await create_campaign(
        client, owner, place, holdout_share=0, frequency_cap={"count": 3, "hours": 24}
    )
    campaign_id = int(campaign["id"])
    viewer, other = await make_account(client), await make_account(client)
    assert [len(await nearby_ads(client, viewer)) for _ in range(2)] == [1, 1]
    assert await drain(app.state.db, redis) == 2  # in the ledger

    await redis.flushdb()  # the budget hash, the caps and the event streams are gone
    assert [len(await nearby_ads(client, viewer)) for _ in range(3)] == [1, 0, 0], (
        "two of three were shown before the loss"
    )
    assert await redis.zcard(keys.frequency(campaign_id, int(viewer["id"]))) == 3
    assert len(await nearby_ads(client, other)) == 1, "the cap is per viewer"
    assert await drain(app.state.db, redis) == 2

    leased, charged = (
        await session.execute(
            text("""SELECT (SELECT coalesce(sum(leased_milli_yen), 0) FROM ad_budget_leases
                            WHERE campaign_id = :c),
                           (SELECT coalesce(sum(cost_milli_yen), 0) FROM ad_impressions
                            WHERE campaign_id = :c)"""),
            {"c": campaign_id},
        )
    ).one()
    # What Redis held unspent at the loss counts as spent (never handed back): leased >= charged.
    assert 0 < charged <= leased <= 1000 * 1000  # the factory's total budget, 1,000 yen
