"""Check-in factories through the API: a place at Tokyo Tower, a check-in there, a small world."""

import httpx

from tests.accounts.factories import make_account
from tests.places.factories import create_place
from tests.social.factories import befriend

LAT, LON = 35.6586, 139.7454  # Tokyo Tower


async def tower_place(client: httpx.AsyncClient, headers: dict) -> dict:
    return (
        await create_place(client, headers, name="Tokyo Tower", category="arts", lat=LAT, lon=LON)
    ).json()


async def post_checkin(
    client: httpx.AsyncClient, who: dict, place: dict, **overrides: object
) -> httpx.Response:
    """POST a check-in ~20 m from the place; `key` becomes the Idempotency-Key header."""
    body = {
        "place_id": place["id"],
        "lat": LAT + 0.0002,
        "lon": LON,
        "accuracy_m": 20,
        "message": "views!",
        **overrides,
    }
    headers = dict(who["headers"])
    if "key" in overrides:
        headers["Idempotency-Key"] = body.pop("key")
    return await client.post("/v1/checkins", json=body, headers=headers)


async def make_world(client: httpx.AsyncClient) -> dict:
    """An author, their friend (in the author's circle `c`), a follower-to-be, a stranger and the
    author's place."""
    author, friend, follower, stranger = [await make_account(client) for _ in range(4)]
    await befriend(client, author, friend)
    circle = (
        await client.post(
            "/v1/circles", json={"name": "c", "members": [friend["id"]]}, headers=author["headers"]
        )
    ).json()
    return {
        "author": author,
        "friend": friend,
        "stranger": stranger,
        "follower": follower,
        "circle": circle,
        "place": await tower_place(client, author["headers"]),
    }
