"""The decision engine through `/v1/places/nearby` and the timelines, on real PostGIS and Redis."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text

from geo.ads import keys
from geo.ads.signing import holdout_draw
from geo.ads.worker import drain
from tests.ads.factories import KIYOSUMI, business_with_place, create_campaign, nearby_ads
from tests.conftest import make_account

LAT, LON = KIYOSUMI


async def test_a_viewer_in_the_target_gets_the_ad_and_one_outside_never(client, member):
    owner, place = await business_with_place(client)
    campaign = await create_campaign(client, owner, place, holdout_share=0)
    ads = await nearby_ads(client, member, lat=LAT + 0.001)  # ~111 m north
    assert [a["campaign_id"] for a in ads] == [campaign["id"]]
    ad = ads[0]
    assert ad["headline"] == campaign["headline"]
    assert ad["place"]["id"] == place["id"]
    assert 100 < ad["distance_m"] < 125
    outsider = await make_account(client)
    for step in (0.0046, 0.01, 0.1):  # 512 m, 1.1 km, 11 km north: outside 500 m
        assert await nearby_ads(client, outsider, lat=LAT + step) == []
    assert await nearby_ads(client, owner) == [], "an advertiser never sees its own ad"


async def test_an_area_target_serves_inside_the_polygon_only(client, member):
    owner, place = await business_with_place(client)
    square = {
        "type": "Polygon",
        "coordinates": [
            [
                [139.79, 35.675],
                [139.805, 35.675],
                [139.805, 35.685],
                [139.79, 35.685],
                [139.79, 35.675],
            ]
        ],
    }
    await create_campaign(client, owner, place, target={"area": square}, holdout_share=0)
    assert len(await nearby_ads(client, member, lat=35.684, lon=139.804)) == 1
    assert await nearby_ads(client, member, lat=35.686, lon=139.804) == []


async def test_paused_ended_future_and_out_of_hours_campaigns_never_serve(client, member, session):
    owner, place = await business_with_place(client)
    now = datetime.now(UTC)
    hour = now.astimezone(ZoneInfo("Asia/Tokyo")).hour
    paused = await create_campaign(client, owner, place, holdout_share=0)
    await client.patch(
        f"/v1/campaigns/{paused['id']}", json={"status": "paused"}, headers=owner["headers"]
    )
    ended = await create_campaign(client, owner, place, holdout_share=0)
    await client.patch(
        f"/v1/campaigns/{ended['id']}", json={"status": "ended"}, headers=owner["headers"]
    )
    await create_campaign(
        client, owner, place, holdout_share=0, starts_at=(now + timedelta(hours=2)).isoformat()
    )
    await create_campaign(
        client, owner, place, holdout_share=0, hours=[h for h in range(24) if h != hour]
    )
    past = await create_campaign(client, owner, place, holdout_share=0)
    await session.execute(
        text("""UPDATE campaigns SET starts_at = now() - interval '2 days',
        ends_at = now() - interval '1 minute', revision = nextval('campaign_revision_seq')
        WHERE id = :id"""),
        {"id": int(past["id"])},
    )
    for _ in range(3):
        assert await nearby_ads(client, member) == []
    # Resuming the paused one (in hours, started, not ended) serves it.
    await client.patch(
        f"/v1/campaigns/{paused['id']}", json={"status": "active"}, headers=owner["headers"]
    )
    assert [a["campaign_id"] for a in await nearby_ads(client, member)] == [paused["id"]]


async def test_frequency_cap_three_per_day(client, member, redis):
    owner, place = await business_with_place(client)
    campaign = await create_campaign(
        client, owner, place, holdout_share=0, frequency_cap={"count": 3, "hours": 24}
    )
    shown = [len(await nearby_ads(client, member)) for _ in range(5)]
    assert shown == [1, 1, 1, 0, 0]
    assert await redis.zcard(keys.frequency(int(campaign["id"]), int(member["id"]))) == 3
    other = await make_account(client)
    assert len(await nearby_ads(client, other)) == 1, "the cap is per viewer"


async def test_ranking_prefers_bid_times_relevance_and_charges_second_price(
    client, member, redis, app
):
    owner, place = await business_with_place(client)
    low = await create_campaign(client, owner, place, holdout_share=0, bid_cpm=100)
    high = await create_campaign(client, owner, place, holdout_share=0, bid_cpm=300)
    await create_campaign(client, owner, place, holdout_share=0, bid_cpm=50)
    ads = await nearby_ads(client, member)
    assert [a["campaign_id"] for a in ads] == [high["id"], low["id"]]
    # Same place, same relevance: the winner pays the runner-up's bid + 1 (milli-yen), not its own.
    spent = int(await redis.hget(keys.budget(int(high["id"])), "spent"))
    assert spent == 101
    assert int(await redis.hget(keys.budget(int(low["id"])), "spent")) == 51


async def test_category_match_outranks_a_higher_bid(client, member):
    owner, place = await business_with_place(client)
    plain = await create_campaign(client, owner, place, holdout_share=0, bid_cpm=120)
    coffee = await create_campaign(
        client, owner, place, holdout_share=0, bid_cpm=100, categories=["coffee-shop"]
    )
    ads = await nearby_ads(client, member, category="coffee-shop")
    assert [a["campaign_id"] for a in ads] == [coffee["id"], plain["id"]]


async def test_ledger_and_clicks(client, app, redis, session):
    owner, place = await business_with_place(client)
    campaign = await create_campaign(client, owner, place, holdout_share=0)
    viewers = [await make_account(client) for _ in range(3)]
    ads = [(v, (await nearby_ads(client, v))[0]) for v in viewers]
    assert await drain(app.state.db, redis) == 3
    count, cost = (
        await session.execute(
            text("SELECT count(*), sum(cost_milli_yen) FROM ad_impressions WHERE campaign_id = :c"),
            {"c": int(campaign["id"])},
        )
    ).one()
    budget = await redis.hgetall(keys.budget(int(campaign["id"])))
    assert count == int(budget[b"n"]) == 3
    assert cost == int(budget[b"spent"])
    viewer, ad = ads[0]
    click = f"/v1/ads/{ad['id']}/click"
    assert (await client.post(click, headers=viewer["headers"])).status_code == 204
    assert (await client.post(click, headers=viewer["headers"])).status_code == 204
    assert (await client.post(click, headers=ads[1][0]["headers"])).status_code == 404
    forged = ad["id"][:-2] + ("AA" if not ad["id"].endswith("AA") else "BB")
    for bad in (forged, "garbage", "1.2.3", "9" * 40):
        response = await client.post(f"/v1/ads/{bad}/click", headers=viewer["headers"])
        assert response.status_code == 404, bad
        assert response.headers["content-type"] == "application/problem+json"
    assert (await client.post(click)).status_code == 401
    clicks = (await session.execute(text("SELECT count(*) FROM ad_clicks"))).scalar_one()
    assert clicks == 1


async def test_holdout_viewers_are_logged_not_shown_and_capped(client, app, redis, session):
    owner, place = await business_with_place(client)
    campaign = await create_campaign(
        client, owner, place, holdout_share=0.5, frequency_cap={"count": 1, "hours": 24}
    )
    viewers = [await make_account(client) for _ in range(16)]
    shown = [len(await nearby_ads(client, v)) for v in viewers]
    secret = app.state.settings.secret_key
    # Fixed per viewer and campaign: exactly the viewers whose draw is below the share.
    assert shown == [
        int(holdout_draw(secret, int(campaign["id"]), int(v["id"])) >= 0.5) for v in viewers
    ]
    held = shown.count(0)
    # A held-out viewer used their one exposure: asking again shows nothing either way.
    assert [len(await nearby_ads(client, v)) for v in viewers] == [0] * 16
    await drain(app.state.db, redis)
    logged = (
        await session.execute(
            text("SELECT count(*) FROM ad_holdouts WHERE campaign_id = :c"),
            {"c": int(campaign["id"])},
        )
    ).scalar_one()
    charged = (
        await session.execute(
            text("SELECT count(*) FROM ad_impressions WHERE campaign_id = :c"),
            {"c": int(campaign["id"])},
        )
    ).scalar_one()
    assert (logged, charged) == (held, 16 - held)


async def test_timelines_carry_ads_for_a_position(client, member):
    owner, place = await business_with_place(client)
    campaign = await create_campaign(client, owner, place, holdout_share=0)
    home = await client.get(
        "/v1/timelines/home", params={"lat": LAT, "lon": LON}, headers=member["headers"]
    )
    assert [a["campaign_id"] for a in home.json()["ads"]] == [campaign["id"]]
    public = await client.get("/v1/timelines/public", headers=member["headers"])
    assert public.json()["ads"] == []
    local = await client.get(
        "/v1/timelines/public", params={"lat": LAT, "lon": LON}, headers=member["headers"]
    )
    assert len(local.json()["ads"]) == 1


async def test_metrics_count_decisions(client, member):
    owner, place = await business_with_place(client)
    await create_campaign(client, owner, place, holdout_share=0)
    await nearby_ads(client, member)
    await nearby_ads(client, member, lat=0.0, lon=0.0)
    body = (await client.get("/metrics")).text
    assert 'geo_ad_decisions_total{outcome="served"}' in body
    assert 'geo_ad_decisions_total{outcome="no-candidate"}' in body


async def test_lowering_a_budget_takes_back_what_redis_holds(client, app, redis, session):
    app.state.settings = app.state.settings.model_copy(update={"ads_pacing_margin": 1.0})
    owner, place = await business_with_place(client)
    # One campaign alone pays the reserve: 10 milli-yen an impression, so 2 yen = 200 of them;
    # the first lease (a chunk of 50 x 200 milli-yen) covers the whole budget.
    campaign = await create_campaign(
        client, owner, place, holdout_share=0, budget={"total": 2, "daily": 2}
    )
    viewers = [await make_account(client) for _ in range(60)]
    assert sum([len(await nearby_ads(client, v)) for v in viewers[:50]]) == 50
    assert int(await redis.hget(keys.budget(int(campaign["id"])), "lease")) == 1500
    lowered = await client.patch(
        f"/v1/campaigns/{campaign['id']}",
        json={"budget": {"total": 1, "daily": 1}},
        headers=owner["headers"],
    )
    assert lowered.status_code == 200
    assert int(await redis.hget(keys.budget(int(campaign["id"])), "lease")) == 0
    served_after = sum(
        [len(await nearby_ads(client, v)) for v in viewers[50:]]
        + [len(await nearby_ads(client, v)) for v in viewers[:50]]
    )
    assert (50 + served_after) * 10 <= 1000, "never past the lowered budget"
    assert served_after == 50
    leased = (
        await session.execute(
            text("SELECT sum(leased_milli_yen) FROM ad_budget_leases WHERE campaign_id = :c"),
            {"c": int(campaign["id"])},
        )
    ).scalar_one()
    assert leased == 1000


async def test_a_paused_campaign_cannot_lease_even_from_a_stale_index(client, app, redis, member):
    owner, place = await business_with_place(client)
    campaign = await create_campaign(client, owner, place, holdout_share=0)
    assert len(await nearby_ads(client, member)) == 1
    engine = app.state.ads_engine
    # This process's index keeps the campaign (as another process's would, for up to a second).
    engine.index.refresh_s = 3600.0
    await client.patch(
        f"/v1/campaigns/{campaign['id']}", json={"status": "paused"}, headers=owner["headers"]
    )
    assert int(await redis.hget(keys.budget(int(campaign["id"])), "lease")) == 0
    assert int(campaign["id"]) in engine.index.campaigns
    assert await nearby_ads(client, await make_account(client)) == []
