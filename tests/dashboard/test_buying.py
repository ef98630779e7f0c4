"""Buying through the dashboard takes the same path as the API: a pause hands back the budget
lease Redis holds, as `PATCH /v1/campaigns/{id}` does (tests/ads/test_abuse.py for the grant)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from geo.ads import keys
from tests.ads.factories import KIYOSUMI, business_with_place, create_campaign
from tests.conftest import make_account
from tests.dashboard.factories import csrf_token, sign_in

TOKYO = ZoneInfo("Asia/Tokyo")  # the form's times are read as Japan time


# The campaign made a moment ago is served at once to an account made a moment ago.
pytestmark = pytest.mark.usefixtures("fresh_ads_index")


async def _leased_campaign(client, redis) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    owner, place = await business_with_place(client)
    campaign = await create_campaign(client, owner, place, holdout_share=0)
    walker = await make_account(client)
    nearby = await client.get(
        "/v1/places/nearby",
        params={"lat": KIYOSUMI[0], "lon": KIYOSUMI[1]},
        headers=walker["headers"],
    )
    assert [a["campaign_id"] for a in nearby.json()["ads"]] == [campaign["id"]]
    lease = int((await redis.hget(keys.budget(int(campaign["id"])), "lease")) or 0)
    assert lease > 0, "serving the ad leased budget into Redis"
    return owner, campaign


async def test_a_pause_from_the_dashboard_hands_back_the_lease(client, redis):
    owner, campaign = await _leased_campaign(client, redis)
    await sign_in(client, owner)
    page = await client.get(f"/dashboard/campaigns/{campaign['id']}")
    paused = await client.post(
        f"/dashboard/campaigns/{campaign['id']}/status",
        data={"status": "paused", "csrf": csrf_token(page.text)},
    )
    assert paused.status_code == 303
    assert int(await redis.hget(keys.budget(int(campaign["id"])), "lease")) == 0
    read = await client.get(f"/v1/campaigns/{campaign['id']}", headers=owner["headers"])
    assert read.json()["status"] == "paused"


async def test_a_pause_through_the_api_hands_back_the_lease_too(client, redis):
    owner, campaign = await _leased_campaign(client, redis)
    paused = await client.patch(
        f"/v1/campaigns/{campaign['id']}", json={"status": "paused"}, headers=owner["headers"]
    )
    assert paused.status_code == 200
    assert int(await redis.hget(keys.budget(int(campaign["id"])), "lease")) == 0


async def test_the_form_s_text_reaches_the_api_as_numbers(client):
    # The API's bodies refuse numbers in strings; the form has only text, so the dashboard turns
    # its numbers into numbers, and leaves text that is none for the schema to refuse by field.
    owner, place = await business_with_place(client)
    await sign_in(client, owner)
    page = await client.get("/dashboard/campaigns/new")
    now = datetime.now(UTC).astimezone(TOKYO)
    form = {
        "csrf": csrf_token(page.text),
        "place_id": place["id"],
        "name": "Form blend",
        "headline": "Hot coffee",
        "radius_m": "800",
        "bid_cpm": "abc",
        "budget_total": "5000",
        "budget_daily": "1000",
        "starts_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
        "hours": "9, 10",
        "cap_count": "3",
        "cap_hours": "24",
    }
    refused = await client.post("/dashboard/campaigns", data=form)
    assert refused.status_code == 422
    assert '<div class="error" id="error-bid_cpm">Input should be a valid integer</div>' in (
        refused.text
    )
    made = await client.post(
        "/dashboard/campaigns", data={**form, "bid_cpm": "300", "csrf": csrf_token(refused.text)}
    )
    assert made.status_code == 303, made.text
    campaign_id = made.headers["location"].rsplit("/", 1)[1]
    read = (await client.get(f"/v1/campaigns/{campaign_id}", headers=owner["headers"])).json()
    assert (read["bid_cpm"], read["budget"], read["target"], read["hours"]) == (
        300,
        {"total": 5000, "daily": 1000},
        {"radius_m": 800},
        [9, 10],
    )
    assert read["frequency_cap"] == {"count": 3, "hours": 24}
