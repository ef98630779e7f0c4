"""Operators, emergencies and safety reports for the tests (through the API where one exists)."""

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from geo.accounts import service as accounts
from geo.core.config import Settings

TOKYO_TOWER = (35.6586, 139.7454)
# About 2.2 km by 2.2 km around Tokyo Tower.
AROUND_TOWER = {
    "type": "Polygon",
    "coordinates": [
        [
            [139.7334, 35.6486],
            [139.7574, 35.6486],
            [139.7574, 35.6686],
            [139.7334, 35.6686],
            [139.7334, 35.6486],
        ]
    ],
}
_count = iter(range(1, 10**6))


async def make_operator(session: AsyncSession, settings: Settings | None = None) -> dict:
    """An operator as `geo operator create` makes one (the API refuses the kind)."""
    account, token = await accounts.create_operator(
        session, handle=f"op_{next(_count)}", settings=settings or Settings(allow_dev_secret=True)
    )
    await session.flush()
    return {"id": str(account.id), "headers": {"Authorization": f"Bearer {token}"}}


async def declare(client: httpx.AsyncClient, operator: dict, **overrides: object) -> dict:
    body = {"name": "Minato earthquake", "area": AROUND_TOWER, **overrides}
    response = await client.post("/v1/emergencies", json=body, headers=operator["headers"])
    assert response.status_code == 201, response.text
    return response.json()


async def report(
    client: httpx.AsyncClient, who: dict, emergency: dict, key: str | None = None, **body: object
) -> httpx.Response:
    headers = dict(who["headers"])
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(
        f"/v1/emergencies/{emergency['id']}/safety",
        json={"status": "safe", **body},
        headers=headers,
    )
