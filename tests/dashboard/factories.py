"""Dashboard helpers: signing in through the form, as a browser would."""

import re

import httpx


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, account: dict) -> httpx.Response:
    page = await client.get("/dashboard")
    assert page.status_code == 200
    assert "Sign in" in page.text
    return await client.post(
        "/dashboard/sign-in",
        data={
            "handle": account["handle"],
            "password": "correct horse",
            "csrf": csrf_token(page.text),
        },
    )
