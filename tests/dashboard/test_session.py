"""The dashboard cookie holds a server-side session id, never a bearer token; sign-out ends the
session; behind TLS the cookie is `__Host-` and Secure (forwarded TLS only from a trusted proxy)."""

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import text

from geo.core.auth import hash_token
from tests.conftest import make_account
from tests.dashboard.factories import sign_in


def cookie_payload(app, response: httpx.Response) -> tuple[str, dict]:  # type: ignore[no-untyped-def]
    name, _, rest = response.headers["set-cookie"].partition("=")
    raw = rest.split(";", 1)[0].strip('"')
    secret = app.state.settings.secret_key
    return name, URLSafeTimedSerializer(secret, salt="geo.dashboard").loads(raw)


async def token_hashes(session, account_id: str) -> set[bytes]:  # type: ignore[no-untyped-def]
    rows = await session.execute(
        text("SELECT token_hash FROM account_tokens WHERE account_id = :a"), {"a": int(account_id)}
    )
    return {bytes(r[0]) for r in rows}


async def test_the_cookie_carries_no_token(app, client, session):
    account = await make_account(client, kind="business")
    response = await sign_in(client, account)
    assert response.status_code == 303
    name, payload = cookie_payload(app, response)
    assert name == "geo_session"
    assert set(payload) == {"sid", "csrf"}
    # No value in the cookie is (or hashes to) any token of the account, the session's included.
    stored = await token_hashes(session, account["id"])
    assert len(stored) == 2  # the sign-up's and the one the session rests on
    assert not {hash_token(str(v)) for v in payload.values()} & stored
    # The session id is no bearer token either.
    as_bearer = {"Authorization": f"Bearer {payload['sid']}"}
    assert (await client.get("/v1/me", headers=as_bearer)).status_code == 401
    listing = await client.get("/dashboard")
    assert "Sign in" not in listing.text


async def test_sign_out_ends_the_session_and_its_token(app, client, session):
    account = await make_account(client, kind="business")
    response = await sign_in(client, account)
    stolen = dict(client.cookies)
    before = await token_hashes(session, account["id"])
    page = await client.get("/dashboard")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    out = await client.post("/dashboard/sign-out", data={"csrf": csrf})
    assert out.status_code == 303
    assert response.status_code == 303
    # A copy of the cookie taken before sign-out is worth nothing afterwards.
    client.cookies.clear()
    for name, value in stolen.items():
        client.cookies.set(name, value)
    replay = await client.get("/dashboard")
    assert "Sign in" in replay.text
    after = await token_hashes(session, account["id"])
    assert after == before - (before - {hash_token(account["token"])})
    assert (await client.get("/v1/me", headers=account["headers"])).status_code == 200


async def test_revoke_all_ends_dashboard_sessions(client):
    account = await make_account(client, kind="business")
    await sign_in(client, account)
    assert "Sign in" not in (await client.get("/dashboard")).text
    assert (await client.delete("/v1/auth/tokens", headers=account["headers"])).status_code == 204
    assert "Sign in" in (await client.get("/dashboard")).text


@pytest.mark.parametrize(
    ("trusted", "base_url", "headers", "host_cookie"),
    [
        (False, "https://test", {}, True),
        (True, "http://test", {"X-Forwarded-Proto": "https"}, True),
        (False, "http://test", {"X-Forwarded-Proto": "https"}, False),
        (True, "http://test", {}, False),
    ],
)
async def test_host_cookie_behind_tls(app, trusted, base_url, headers, host_cookie):
    app.state.settings = app.state.settings.model_copy(update={"trust_proxy_headers": trusted})
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=base_url, headers=headers) as c:
        account = await make_account(c, kind="business")
        # Cookies carried by hand, as the browser (which sees https) would: httpx itself would
        # hold back Secure cookies on the proxy's plain-HTTP leg.
        page = await c.get("/dashboard")
        pre = page.headers["set-cookie"].split(";", 1)[0]
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        c.cookies.clear()
        response = await c.post(
            "/dashboard/sign-in",
            data={"handle": account["handle"], "password": "correct horse", "csrf": csrf},
            headers={"Cookie": pre},
        )
        assert response.status_code == 303, response.text
        cookie = response.headers["set-cookie"]
        if host_cookie:
            assert pre.startswith("__Host-geo_csrf=")
            assert cookie.startswith("__Host-geo_session=")
            assert "Secure" in cookie
            assert "Path=/;" in cookie or cookie.endswith("Path=/")
            assert "Domain" not in cookie
        else:
            assert cookie.startswith("geo_session=")
            assert "Secure" not in cookie
        # Sent back under that name, the session holds.
        c.cookies.clear()
        home = await c.get("/dashboard", headers={"Cookie": cookie.split(";", 1)[0]})
        assert "Sign in" not in home.text
