"""Social-graph factories through the API."""

import httpx


async def befriend(client: httpx.AsyncClient, a: dict, b: dict) -> None:
    sent = await client.post("/v1/friend-requests", json={"to": b["id"]}, headers=a["headers"])
    assert sent.status_code == 201, sent.text
    accepted = await client.post(
        f"/v1/friend-requests/{sent.json()['id']}/accept", headers=b["headers"]
    )
    assert accepted.status_code == 200, accepted.text
