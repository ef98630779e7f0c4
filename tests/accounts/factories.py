"""Account factories through the API."""

import os
from itertools import count

import httpx

_handles = count(1)


async def make_account(
    client: httpx.AsyncClient, *, kind: str = "member", handle: str | None = None
) -> dict:
    """Sign up through the API; returns the account with its token and auth headers."""
    handle = handle or f"user{os.getpid()}_{next(_handles)}"
    response = await client.post(
        "/v1/accounts", json={"handle": handle, "password": "correct horse", "kind": kind}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    body["headers"] = {"Authorization": f"Bearer {body['token']}"}
    return body
