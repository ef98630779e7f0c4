"""Sign-in and sign-up limits: brute force meets 429 with Retry-After; GEO_RATE_LIMIT_EXEMPT skips
the per-address limits only; forwarded addresses count only when a setting trusts the proxy."""

import pytest

from tests.conftest import make_account
from tests.dashboard.factories import sign_in as dashboard_sign_in

WRONG = {"password": "not the password"}


def limit(app, **changes):  # type: ignore[no-untyped-def]
    """Give the app stricter settings; its throttle is made again from them on next use."""
    app.state.settings = app.state.settings.model_copy(update=changes)
    app.state.auth_throttle = None


async def sign_in(client, handle, password="correct horse", headers=None):  # type: ignore[no-untyped-def]
    return await client.post(
        "/v1/auth/token", json={"handle": handle, "password": password}, headers=headers or {}
    )


def assert_rate_limited(response, window_s: int = 300) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    # Retry-After: when the oldest attempt in the window leaves it, never beyond the window.
    assert 1 <= int(response.headers["Retry-After"]) <= window_s + 1


@pytest.mark.redis_cluster
async def test_sign_in_brute_force_gets_429_with_retry_after(app, client):
    victim = await make_account(client)
    limit(app, rate_limit_sign_in_per_handle="3/5minutes", rate_limit_exempt="")
    for guess in range(3):
        wrong = await sign_in(client, victim["handle"], f"guess number {guess}")
        assert wrong.status_code == 401
    assert_rate_limited(await sign_in(client, victim["handle"], "guess number 4"))
    # Even the right password waits: the guesser cannot tell a hit from the limit.
    assert_rate_limited(await sign_in(client, victim["handle"]))
    # The handle is matched as sign-in matches it: case changes are the same handle.
    assert_rate_limited(await sign_in(client, victim["handle"].upper()))


async def test_per_address_limit_spans_handles(app, client):
    accounts = [await make_account(client) for _ in range(3)]
    limit(app, rate_limit_sign_in_per_address="2/5minutes", rate_limit_exempt="")
    assert (await sign_in(client, accounts[0]["handle"])).status_code == 200
    assert (await sign_in(client, accounts[1]["handle"])).status_code == 200
    assert_rate_limited(await sign_in(client, accounts[2]["handle"]))


async def test_exempt_address_skips_per_address_but_not_per_handle(app, client):
    accounts = [await make_account(client) for _ in range(4)]
    limit(
        app,
        rate_limit_sign_in_per_address="2/5minutes",
        rate_limit_sign_in_per_handle="3/5minutes",
        rate_limit_exempt="10.9.0.0/16, 127.0.0.1",
    )
    for account in accounts:  # four handles from one address: over the per-address limit of 2
        assert (await sign_in(client, account["handle"])).status_code == 200
    for _ in range(2):
        assert (await sign_in(client, accounts[0]["handle"])).status_code == 200
    assert_rate_limited(await sign_in(client, accounts[0]["handle"]))


async def test_sign_up_limits_per_address(app, client):
    limit(app, rate_limit_sign_up_per_address="2/hour", rate_limit_exempt="")
    await make_account(client)
    await make_account(client)
    third = await client.post(
        "/v1/accounts", json={"handle": "third_one", "password": "correct horse"}
    )
    assert_rate_limited(third, window_s=3600)


async def test_sign_up_limits_per_handle_even_when_exempt(app, client):
    limit(app, rate_limit_sign_up_per_handle="2/hour", rate_limit_exempt="127.0.0.1")
    await make_account(client, handle="wanted")
    body = {"handle": "Wanted", "password": "correct horse"}
    assert (await client.post("/v1/accounts", json=body)).status_code == 409
    assert_rate_limited(await client.post("/v1/accounts", json=body), window_s=3600)


@pytest.mark.parametrize("trusted", [False, True])
async def test_forwarded_address_counts_only_behind_a_trusted_proxy(app, client, trusted):
    accounts = [await make_account(client) for _ in range(3)]
    limit(
        app,
        rate_limit_sign_in_per_address="1/5minutes",
        rate_limit_exempt="203.0.113.0/24",
        trust_proxy_headers=trusted,
    )
    exempt_hop = {"X-Forwarded-For": "203.0.113.9"}
    assert (await sign_in(client, accounts[0]["handle"], headers=exempt_hop)).status_code == 200
    second = await sign_in(client, accounts[1]["handle"], headers=exempt_hop)
    if not trusted:
        # Untrusted, the header is the client's say-so: the peer address (not exempt) counts.
        assert_rate_limited(second)
        return
    assert second.status_code == 200
    # Only the last entry (the one our proxy appended) counts, not what the client put before it.
    spoofed = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}
    assert (await sign_in(client, accounts[2]["handle"], headers=spoofed)).status_code == 200
    assert_rate_limited(await sign_in(client, accounts[0]["handle"], headers=spoofed))


async def test_dashboard_sign_in_is_limited_too(app, client):
    victim = await make_account(client)
    limit(app, rate_limit_sign_in_per_handle="2/5minutes", rate_limit_exempt="")
    for _ in range(2):
        assert (await dashboard_sign_in(client, victim)).status_code == 303
        client.cookies.clear()
    blocked = await dashboard_sign_in(client, victim)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
