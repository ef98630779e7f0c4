"""Campaigns over HTTP: create, list, read, pause/resume/edit, and everything that must be 4xx."""

import json
import math

import pytest

from tests.ads.factories import business_with_place, campaign_body, create_campaign
from tests.conftest import make_account

BOWTIE = {
    "type": "Polygon",
    "coordinates": [
        [[139.79, 35.68], [139.80, 35.69], [139.80, 35.68], [139.79, 35.69], [139.79, 35.68]]
    ],
}
WORLD = {
    "type": "Polygon",
    "coordinates": [[[-179, -80], [179, -80], [179, 80], [-179, 80], [-179, -80]]],
}
SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[139.79, 35.675], [139.805, 35.675], [139.805, 35.685], [139.79, 35.685], [139.79, 35.675]]
    ],
}


async def test_create_read_list_and_pause(client):
    owner, place = await business_with_place(client)
    campaign = await create_campaign(
        client, owner, place, categories=["coffee-shop"], hours=[20, 8, 9, 8]
    )
    assert campaign["status"] == "active"
    assert campaign["target"] == {"radius_m": 500}
    assert campaign["budget"] == {"total": 1000, "daily": 1000}
    assert campaign["hours"] == [8, 9, 20]
    assert campaign["timezone"] == "Asia/Tokyo"
    read = await client.get(f"/v1/campaigns/{campaign['id']}", headers=owner["headers"])
    assert read.status_code == 200
    assert read.json() == campaign
    listing = (await client.get("/v1/campaigns", headers=owner["headers"])).json()
    assert [c["id"] for c in listing["items"]] == [campaign["id"]]
    assert listing["next"] is None
    paused = await client.patch(
        f"/v1/campaigns/{campaign['id']}", json={"status": "paused"}, headers=owner["headers"]
    )
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    resumed = await client.patch(
        f"/v1/campaigns/{campaign['id']}",
        json={"status": "active", "bid_cpm": 300},
        headers=owner["headers"],
    )
    assert resumed.json()["status"] == "active"
    assert resumed.json()["bid_cpm"] == 300


async def test_area_target_round_trips(client):
    owner, place = await business_with_place(client)
    campaign = await create_campaign(client, owner, place, target={"area": SQUARE})
    assert campaign["target"]["area"]["coordinates"] == SQUARE["coordinates"]


async def test_list_is_cursor_paginated(client):
    owner, place = await business_with_place(client)
    ids = [(await create_campaign(client, owner, place, name=f"c{i}"))["id"] for i in range(3)]
    first = (await client.get("/v1/campaigns?limit=2", headers=owner["headers"])).json()
    assert [c["id"] for c in first["items"]] == ids[::-1][:2]
    rest = (
        await client.get(f"/v1/campaigns?limit=2&before={first['next']}", headers=owner["headers"])
    ).json()
    assert [c["id"] for c in rest["items"]] == [ids[0]]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"target": {"area": BOWTIE}}, "body.target.area"),
        ({"target": {"area": WORLD}}, "body.target.area"),
        ({"target": {"radius_m": 10}}, "body.target"),
        ({"target": {"radius_m": 20_001}}, "body.target"),
        ({"budget": {"total": -5, "daily": 1}}, "body.budget.total"),
        ({"budget": {"total": 100, "daily": 200}}, "body.budget.daily"),
        ({"ends_at": "2020-01-01T00:00:00Z", "starts_at": "2021-01-01T00:00:00Z"}, "body.ends_at"),
        ({"starts_at": "2026-01-01T00:00:00"}, "body.starts_at"),
        ({"hours": [24]}, "body.hours.0"),
        ({"timezone": "Mars/Olympus"}, "body.timezone"),
        ({"categories": ["no-such-category"]}, "body.categories"),
        ({"frequency_cap": {"count": 0, "hours": 24}}, "body.frequency_cap.count"),
        ({"bid_cpm": 0}, "body.bid_cpm"),
        # Numbers are JSON numbers: not booleans, not numbers in strings.
        ({"bid_cpm": True}, "body.bid_cpm"),
        ({"bid_cpm": "200"}, "body.bid_cpm"),
        ({"target": {"radius_m": "500"}}, "body.target"),
        ({"budget": {"total": True, "daily": 1}}, "body.budget.total"),
        ({"frequency_cap": {"count": "3", "hours": 24}}, "body.frequency_cap.count"),
        ({"hours": [False]}, "body.hours.0"),
        ({"holdout_share": "0.1"}, "body.holdout_share"),
    ],
)
async def test_bad_campaigns_are_422_naming_the_field(client, overrides, field):
    owner, place = await business_with_place(client)
    response = await client.post(
        "/v1/campaigns", json=campaign_body(place["id"], **overrides), headers=owner["headers"]
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), fields
    assert (await client.get("/v1/campaigns", headers=owner["headers"])).json()["items"] == []


@pytest.mark.parametrize("value", [True, "200", 0])
async def test_a_bad_patch_names_the_field_not_the_schema(client, value):
    owner, place = await business_with_place(client)
    made = await client.post(
        "/v1/campaigns", json=campaign_body(place["id"]), headers=owner["headers"]
    )
    response = await client.patch(
        f"/v1/campaigns/{made.json()['id']}", json={"bid_cpm": value}, headers=owner["headers"]
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["body.bid_cpm"]


async def test_an_integral_number_is_an_integer_as_the_json_schema_says(client):
    # JSON Schema's integer includes 200.0 (schema-driven clients send it): only booleans,
    # strings and fractions are refused.
    owner, place = await business_with_place(client)
    made = await create_campaign(
        client, owner, place, bid_cpm=200.0, frequency_cap={"count": 3.0, "hours": 24}
    )
    assert (made["bid_cpm"], made["frequency_cap"]) == (200, {"count": 3, "hours": 24})


async def test_nan_bid_is_rejected(client):
    owner, place = await business_with_place(client)
    raw = campaign_body(place["id"], bid_cpm=math.nan)
    content = json.dumps(raw, allow_nan=True)
    response = await client.post(
        "/v1/campaigns",
        content=content,
        headers={**owner["headers"], "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "body.bid_cpm"


async def test_someone_elses_place_is_403_and_a_missing_place_422(client):
    _, place = await business_with_place(client)
    other = await make_account(client, kind="business")
    response = await client.post(
        "/v1/campaigns", json=campaign_body(place["id"]), headers=other["headers"]
    )
    assert response.status_code == 403
    member = await make_account(client)
    assert (
        await client.post(
            "/v1/campaigns", json=campaign_body(place["id"]), headers=member["headers"]
        )
    ).status_code == 403
    missing = await client.post(
        "/v1/campaigns", json=campaign_body("12345"), headers=other["headers"]
    )
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "body.place_id"


async def test_advertiser_runs_campaigns_for_granted_places_only(client):
    owner, place = await business_with_place(client)
    advertiser = await make_account(client, kind="advertiser")
    body = campaign_body(place["id"])
    assert (
        await client.post("/v1/campaigns", json=body, headers=advertiser["headers"])
    ).status_code == 403
    grant = f"/v1/places/{place['id']}/advertisers/{advertiser['id']}"
    assert (await client.put(grant, headers=advertiser["headers"])).status_code == 403
    assert (await client.put(grant, headers=owner["headers"])).status_code == 204
    created = await client.post("/v1/campaigns", json=body, headers=advertiser["headers"])
    assert created.status_code == 201
    # The advertiser owns its campaign; the place's owner does not see it.
    assert (
        await client.get(f"/v1/campaigns/{created.json()['id']}", headers=owner["headers"])
    ).status_code == 404
    assert (await client.delete(grant, headers=owner["headers"])).status_code == 204
    assert (
        await client.post("/v1/campaigns", json=body, headers=advertiser["headers"])
    ).status_code == 403


async def test_patch_validates_the_merged_campaign(client):
    owner, place = await business_with_place(client)
    campaign = await create_campaign(client, owner, place)
    url = f"/v1/campaigns/{campaign['id']}"
    bad = await client.patch(
        url, json={"budget": {"total": 10, "daily": 20}}, headers=owner["headers"]
    )
    assert bad.status_code == 422
    bad = await client.patch(
        url, json={"ends_at": "2000-01-01T00:00:00Z"}, headers=owner["headers"]
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.ends_at"
    bad = await client.patch(url, json={"target": {"area": BOWTIE}}, headers=owner["headers"])
    assert bad.status_code == 422
    ended = await client.patch(url, json={"status": "ended"}, headers=owner["headers"])
    assert ended.json()["status"] == "ended"
    again = await client.patch(url, json={"status": "active"}, headers=owner["headers"])
    assert again.status_code == 422


ROLES = ("owner", "other", "anonymous")
ROUTES = [
    ("GET", "/v1/campaigns/{id}", None, (200, 404, 401)),
    ("PATCH", "/v1/campaigns/{id}", {"status": "paused"}, (200, 404, 401)),
    ("GET", "/v1/campaigns", None, (200, 200, 401)),
    ("POST", "/v1/campaigns", "body", (201, 403, 401)),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), ROUTES)
@pytest.mark.parametrize("role", ROLES)
async def test_authorization_on_every_campaign_route(client, role, method, path, body, expected):
    owner, place = await business_with_place(client)
    other = await make_account(client, kind="business")
    campaign = await create_campaign(client, owner, place)
    headers = {"owner": owner["headers"], "other": other["headers"], "anonymous": {}}[role]
    json_body = campaign_body(place["id"]) if body == "body" else body
    response = await client.request(
        method, path.format(id=campaign["id"]), json=json_body, headers=headers
    )
    want = expected[ROLES.index(role)]
    assert response.status_code == want, response.text
    if want >= 400:
        assert response.headers["content-type"] == "application/problem+json"
    if role == "other" and method == "GET" and path == "/v1/campaigns":
        assert response.json()["items"] == []
