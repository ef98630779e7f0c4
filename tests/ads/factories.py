from datetime import UTC, datetime, timedelta

import httpx

from tests.conftest import make_account
from tests.places.factories import create_place

KIYOSUMI = (35.6806, 139.7981)


def campaign_body(place_id: str, **overrides: object) -> dict:
    now = datetime.now(UTC)
    body: dict = {
        "place_id": place_id,
        "name": "Winter blend",
        "headline": "Hot coffee 100 m away",
        "body": "Show this ad for 10% off.",
        "target": {"radius_m": 500},
        "bid_cpm": 200,
        "budget": {"total": 1000, "daily": 1000},
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(days=7)).isoformat(),
        "frequency_cap": {"count": 3, "hours": 24},
    }
    body.update(overrides)
    return body


async def business_with_place(
    client: httpx.AsyncClient,
    *,
    name: str = "Kiyosumi Roastery",
    lat: float = KIYOSUMI[0],
    lon: float = KIYOSUMI[1],
    category: str = "coffee-shop",
) -> tuple[dict, dict]:
    owner = await make_account(client, kind="business")
    response = await create_place(
        client, owner["headers"], name=name, lat=lat, lon=lon, category=category
    )
    assert response.status_code == 201, response.text
    return owner, response.json()


async def create_campaign(
    client: httpx.AsyncClient, owner: dict, place: dict, **overrides: object
) -> dict:
    response = await client.post(
        "/v1/campaigns", json=campaign_body(place["id"], **overrides), headers=owner["headers"]
    )
    assert response.status_code == 201, response.text
    return response.json()


async def nearby_ads(client, viewer, lat=KIYOSUMI[0], lon=KIYOSUMI[1], **params) -> list[dict]:
    response = await client.get(
        "/v1/places/nearby", params={"lat": lat, "lon": lon, **params}, headers=viewer["headers"]
    )
    assert response.status_code == 200, response.text
    return response.json()["ads"]
