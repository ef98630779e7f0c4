"""Attacks on advertisers' money and on the people near an ad, each written as it would be run.

- the beacon: a tiny target, and a budget read over and over to see each impression;
- a revoked grant that used to keep running;
- a competitor's fifty fresh accounts draining a budget; one account hammering; a teleport.
"""

import time
from datetime import UTC, datetime

from sqlalchemy import text

from geo.ads import keys, signing
from geo.ads.decision import AdsEngine
from geo.ads.traffic import TrafficFilter
from geo.ads.worker import drain
from geo.core.ids import EPOCH_MS
from tests.ads.factories import (
    KIYOSUMI,
    business_with_place,
    campaign_body,
    create_campaign,
    nearby_ads,
)
from tests.conftest import make_account

LAT, LON = KIYOSUMI
OSAKA = (34.7025, 135.4959)
WELL_KNOWN_SECRET = "dev-only-secret-change-me"  # the default a careless deployment kept


def _square(lat: float, lon: float, half_deg: float) -> dict:
    ring = [
        [lon - half_deg, lat - half_deg],
        [lon + half_deg, lat - half_deg],
        [lon + half_deg, lat + half_deg],
        [lon - half_deg, lat + half_deg],
        [lon - half_deg, lat - half_deg],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


# --- the beacon ---------------------------------------------------------------------------------


async def test_a_target_too_small_to_be_anonymous_is_refused(client):
    owner, place = await business_with_place(client)
    house = _square(LAT, LON, 0.00007)  # about 15 m across
    for target, field in (
        ({"area": house}, "body.target.area"),
        ({"radius_m": 100}, "body.target.radius_m"),
        ({"radius_m": 499}, "body.target.radius_m"),
    ):
        response = await client.post(
            "/v1/campaigns",
            json=campaign_body(place["id"], target=target),
            headers=owner["headers"],
        )
        assert response.status_code == 422, (target, response.text)
        assert response.json()["errors"][0]["field"] == field
    # The minimum itself is fine, as is a polygon larger than that circle (~1.4 km x 1.1 km).
    await create_campaign(client, owner, place, target={"radius_m": 500})
    await create_campaign(client, owner, place, target={"area": _square(LAT, LON, 0.005)})
    # Shrinking an existing campaign's target is refused the same way.
    campaign = await create_campaign(client, owner, place)
    shrink = await client.patch(
        f"/v1/campaigns/{campaign['id']}",
        json={"target": {"area": house}},
        headers=owner["headers"],
    )
    assert shrink.status_code == 422
    assert shrink.json()["errors"][0]["field"] == "body.target.area"


async def test_budget_left_does_not_move_with_each_impression(client, redis):
    """Refreshing the budget every few seconds used to tell each time someone walked in."""
    owner, place = await business_with_place(client)
    rival = await create_campaign(client, owner, place, holdout_share=0, bid_cpm=199)
    campaign = await create_campaign(client, owner, place, holdout_share=0, bid_cpm=200)
    url = f"/v1/campaigns/{campaign['id']}/report"
    before = (await client.get(url, headers=owner["headers"])).json()["budget"]
    walkers = [await make_account(client) for _ in range(3)]
    seen = []
    for walker in walkers:
        assert campaign["id"] in [a["campaign_id"] for a in await nearby_ads(client, walker)]
        seen.append((await client.get(url, headers=owner["headers"])).json()["budget"])
    state = await redis.hgetall(keys.budget(int(campaign["id"])))
    assert int(state[b"n"]) == 3, "the engine did charge each walker"
    assert int(state[b"spent"]) > 0
    assert rival["id"]
    # ...but what the advertiser reads is the last finished hour, the same after every walker.
    assert all(b == before for b in seen), (before, seen)
    assert before["spent_today_milli_yen"] == 0
    assert before["as_of"].endswith(":00:00Z")


# --- a revoked grant --------------------------------------------------------------------------


async def test_a_revoked_grant_pauses_at_once_and_hides_the_reports(client, redis, member):
    owner, place = await business_with_place(client)
    advertiser = await make_account(client, kind="advertiser")
    grant = f"/v1/places/{place['id']}/advertisers/{advertiser['id']}"
    assert (await client.put(grant, headers=owner["headers"])).status_code == 204
    campaign = await create_campaign(client, advertiser, place, holdout_share=0)
    cid = campaign["id"]
    assert [a["campaign_id"] for a in await nearby_ads(client, member)] == [cid]
    assert int((await redis.hget(keys.budget(int(cid)), "lease")) or 0) > 0, "a lease is held"

    assert (await client.delete(grant, headers=owner["headers"])).status_code == 204

    assert int(await redis.hget(keys.budget(int(cid)), "lease")) == 0, "the lease is handed back"
    other = await make_account(client)
    assert await nearby_ads(client, other) == [], "nothing more is served"
    headers = advertiser["headers"]
    for method, path, body in (
        ("GET", f"/v1/campaigns/{cid}", None),
        ("PATCH", f"/v1/campaigns/{cid}", {"status": "active"}),
        ("PATCH", f"/v1/campaigns/{cid}", {"ends_at": "2099-01-01T00:00:00Z"}),
        ("GET", f"/v1/campaigns/{cid}/report", None),
        ("GET", f"/v1/campaigns/{cid}/report.csv", None),
    ):
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 404, (method, path, response.status_code)
    listed = (await client.get("/v1/campaigns", headers=headers)).json()["items"]
    assert cid not in [c["id"] for c in listed]
    # Granting again gives the campaign back, paused: the advertiser decides to resume.
    assert (await client.put(grant, headers=owner["headers"])).status_code == 204
    back = await client.get(f"/v1/campaigns/{cid}", headers=headers)
    assert back.status_code == 200
    assert back.json()["status"] == "paused"


# --- invalid traffic ----------------------------------------------------------------------------


def _id_made(seconds_ago: float, low_bits: int) -> int:
    """An account id as `geo_next_id()` would have made it `seconds_ago`."""
    ms = int((time.time() - seconds_ago) * 1000) - EPOCH_MS
    return (ms << 22) | low_bits


async def _accounts(session, ids: list[int]) -> None:  # type: ignore[no-untyped-def]
    await session.execute(
        text("""INSERT INTO accounts (id, handle, password_hash, kind)
                SELECT i, 'drain' || i, 'x', 'member' FROM unnest(CAST(:ids AS bigint[])) i"""),
        {"ids": ids},
    )
    await session.flush()


async def test_fifty_fresh_accounts_hammering_a_rivals_area_drain_nothing(
    app, client, session, redis
):
    app.state.settings = app.state.settings.model_copy(update={"ads_min_account_age_s": 3600})
    owner, place = await business_with_place(client)
    campaign = await create_campaign(
        client, owner, place, holdout_share=0, frequency_cap={"count": 1000, "hours": 1}
    )
    cid = int(campaign["id"])
    fresh = [_id_made(60, n) for n in range(50)]  # signed up a minute ago
    await _accounts(session, fresh)
    engine = AdsEngine.create(app.state.db, redis, app.state.settings)
    served = 0
    for _ in range(10):
        for viewer in fresh:
            served += len(await engine.decide(viewer_id=viewer, lat=LAT, lon=LON))
    await engine.settle()
    # Through the API too: a fresh sign-up sees no ad and pays nothing.
    assert await nearby_ads(client, await make_account(client)) == []
    await drain(app.state.db, redis)
    assert served == 0
    state = await redis.hgetall(keys.budget(cid))
    assert int(state.get(b"spent", 0)) == 0
    assert int(state.get(b"n", 0)) == 0
    ledger = await session.scalar(
        text("SELECT count(*) FROM ad_impressions WHERE campaign_id = :c"), {"c": cid}
    )
    assert ledger == 0
    log = await redis.xrange(keys.INVALID_LOG)
    assert len(log) == 501
    assert {e[1][b"r"] for e in log} == {b"young"}
    # The rule is about age, not about these requests: an account older than an hour is served.
    aged = _id_made(2 * 3600, 4095)
    await _accounts(session, [aged])
    assert len(await engine.decide(viewer_id=aged, lat=LAT, lon=LON)) == 1


async def test_an_account_over_the_request_rate_is_not_served(app, client, member, redis):
    app.state.settings = app.state.settings.model_copy(update={"ads_max_decisions_per_minute": 3})
    owner, place = await business_with_place(client)
    await create_campaign(
        client, owner, place, holdout_share=0, frequency_cap={"count": 1000, "hours": 1}
    )
    answers = [len(await nearby_ads(client, member)) for _ in range(5)]
    assert answers == [1, 1, 1, 0, 0]
    reasons = [e[1][b"r"] for e in await redis.xrange(keys.INVALID_LOG)]
    assert reasons == [b"rate", b"rate"]


async def test_a_teleport_is_invalid_and_travel_is_not(app, redis):
    check = TrafficFilter(redis, app.state.settings)
    viewer = _id_made(86400, 7)
    t0 = datetime(2026, 11, 30, 9, tzinfo=UTC).timestamp()
    assert await check.invalid_reason(viewer, LAT, LON, t0) is None
    assert await check.invalid_reason(viewer, LAT + 0.003, LON, t0 + 5) is None  # 330 m: noise
    # Tokyo to Osaka (400 km) in a minute: not a person.
    assert await check.invalid_reason(viewer, *OSAKA, t0 + 60) == "speed"
    # The implausible position was not remembered; by Shinkansen, three hours later, it is fine.
    assert await check.invalid_reason(viewer, *OSAKA, t0 + 3 * 3600) is None
    assert await check.invalid_reason(viewer, *OSAKA, t0 + 3 * 3600 + 30) is None


async def test_a_click_forged_with_the_default_secret_is_refused_once_the_secret_is_set(
    app, client, member
):
    app.state.settings = app.state.settings.model_copy(
        update={"secret_key": "a-real-secret-set-by-the-operator"}
    )
    owner, place = await business_with_place(client)
    campaign = await create_campaign(client, owner, place, holdout_share=0)
    (ad,) = await nearby_ads(client, member)
    served_id = int(ad["id"].split(".")[0])
    forged = signing.sign(
        WELL_KNOWN_SECRET,
        impression_id=served_id + 1,
        campaign_id=int(campaign["id"]),
        viewer_id=int(member["id"]),
    )
    assert signing.verify(WELL_KNOWN_SECRET, forged, viewer_id=int(member["id"])), (
        "with the default secret the forgery would pass"
    )
    click = await client.post(f"/v1/ads/{forged}/click", headers=member["headers"])
    assert click.status_code == 404
    genuine = await client.post(f"/v1/ads/{ad['id']}/click", headers=member["headers"])
    assert genuine.status_code == 204
