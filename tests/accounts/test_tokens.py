"""Tokens expire (sliding, up to a maximum age) and are revoked at once, in every process, also
with the per-process token cache on."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from geo.accounts import tokens
from geo.app import create_app
from geo.core.auth import TokenCache, hash_token
from geo.core.db import create_database, driver_connection
from tests.conftest import make_account


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


async def token_row(session, token: str) -> dict:  # type: ignore[no-untyped-def]
    row = (
        await session.execute(
            text("SELECT created_at, expires_at FROM account_tokens WHERE token_hash = :h"),
            {"h": hash_token(token)},
        )
    ).one()
    return {"created_at": row[0], "expires_at": row[1]}


async def set_expiry(session, key: bytes, expiry_sql: str) -> None:  # type: ignore[no-untyped-def]
    await session.execute(
        text(f"UPDATE account_tokens SET expires_at = {expiry_sql} WHERE token_hash = :h"),
        {"h": key},
    )


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def new_token(client, account) -> str:  # type: ignore[no-untyped-def]
    response = await client.post(
        "/v1/auth/token", json={"handle": account["handle"], "password": "correct horse"}
    )
    assert response.status_code == 200
    return response.json()["token"]


@pytest.fixture
async def other_process(app):  # type: ignore[no-untyped-def]
    """A second API process on the same database and Redis, with its own token cache."""
    second = create_app(app.state.settings)
    second.state.db, second.state.redis = app.state.db, app.state.redis
    second.state.token_cache = TokenCache(3600)
    transport = httpx.ASGITransport(app=second, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_answers_carry_expires_at(client, session, settings):
    account = await make_account(client)
    signed_up = parse_time(account["expires_at"])
    response = await client.post(
        "/v1/auth/token", json={"handle": account["handle"], "password": "correct horse"}
    )
    signed_in = parse_time(response.json()["expires_at"])
    row = await token_row(session, response.json()["token"])
    assert signed_in == row["expires_at"].replace(microsecond=0)
    for expiry in (signed_up, signed_in):
        idle = timedelta(seconds=settings.token_idle_seconds)
        assert (
            row["created_at"]
            < expiry + timedelta(seconds=1)
            <= row["created_at"] + idle + timedelta(seconds=2)
        )


async def test_expired_token_is_401(client, session):
    account = await make_account(client)
    assert (await client.get("/v1/me", headers=account["headers"])).status_code == 200
    await set_expiry(session, hash_token(account["token"]), "now() - interval '1 second'")
    response = await client.get("/v1/me", headers=account["headers"])
    assert response.status_code == 401


async def test_expired_token_is_401_from_the_cache_too(app, client, session):
    app.state.token_cache = TokenCache(3600)
    account = await make_account(client)
    assert (await client.get("/v1/me", headers=account["headers"])).status_code == 200
    key = hash_token(account["token"])
    grant = app.state.token_cache.get(key)
    assert grant is not None
    # The cached grant's own expiry is passed (as if time had run on): the cache lets it go.
    from dataclasses import replace

    app.state.token_cache.put(key, replace(grant, expires_at=grant.issued_at - 1))
    await set_expiry(session, key, "now() - interval '1 second'")
    assert (await client.get("/v1/me", headers=account["headers"])).status_code == 401


async def test_a_token_in_use_slides_forward(client, session, settings):
    account = await make_account(client)
    await set_expiry(session, hash_token(account["token"]), "now() + interval '10 minutes'")
    assert (await client.get("/v1/me", headers=account["headers"])).status_code == 200
    row = await token_row(session, account["token"])
    idle = timedelta(seconds=settings.token_idle_seconds)
    assert row["expires_at"] >= row["created_at"] + idle - timedelta(hours=1)


async def test_sliding_stops_at_the_maximum_age(client, session, settings):
    account = await make_account(client)
    max_age = timedelta(seconds=settings.token_max_age_seconds)
    await session.execute(
        text(
            "UPDATE account_tokens SET created_at = now() - CAST(:age AS interval), "
            "expires_at = now() + interval '10 minutes' WHERE token_hash = :h"
        ),
        {"h": hash_token(account["token"]), "age": max_age - timedelta(hours=2)},
    )
    assert (await client.get("/v1/me", headers=account["headers"])).status_code == 200
    row = await token_row(session, account["token"])
    assert row["expires_at"] == row["created_at"] + max_age
    # Past the maximum age the token is dead, used or not.
    await session.execute(
        text(
            "UPDATE account_tokens SET created_at = now() - CAST(:age AS interval), "
            "expires_at = now() - interval '1 hour' WHERE token_hash = :h"
        ),
        {"h": hash_token(account["token"]), "age": max_age + timedelta(hours=1)},
    )
    assert (await client.get("/v1/me", headers=account["headers"])).status_code == 401


@pytest.mark.redis_cluster
@pytest.mark.parametrize("cache_seconds", [0, 3600])
async def test_revoked_token_is_401_at_once_in_every_process(
    app, client, other_process, cache_seconds
):
    app.state.token_cache = TokenCache(cache_seconds)
    account = await make_account(client)
    second_token = await new_token(client, account)
    # Both processes have seen (and, with a cache, remember) the token.
    assert (await client.get("/v1/me", headers=account["headers"])).status_code == 200
    assert (await other_process.get("/v1/me", headers=account["headers"])).status_code == 200
    revoked = await client.delete("/v1/auth/token", headers=account["headers"])
    assert revoked.status_code == 204
    assert (await client.get("/v1/me", headers=account["headers"])).status_code == 401
    assert (await other_process.get("/v1/me", headers=account["headers"])).status_code == 401
    # The caller's other token lives on.
    assert (await other_process.get("/v1/me", headers=bearer(second_token))).status_code == 200


@pytest.mark.redis_cluster
async def test_revoke_all_ends_every_token_in_every_process(app, client, other_process):
    app.state.token_cache = TokenCache(3600)
    account = await make_account(client)
    tokens = [account["token"], await new_token(client, account), await new_token(client, account)]
    bystander = await make_account(client)
    for token in tokens:
        assert (await other_process.get("/v1/me", headers=bearer(token))).status_code == 200
    assert (await client.delete("/v1/auth/tokens", headers=bearer(tokens[1]))).status_code == 204
    for token in tokens:
        assert (await other_process.get("/v1/me", headers=bearer(token))).status_code == 401
        assert (await client.get("/v1/me", headers=bearer(token))).status_code == 401
    assert (await other_process.get("/v1/me", headers=bystander["headers"])).status_code == 200
    fresh = await new_token(client, account)
    assert (await other_process.get("/v1/me", headers=bearer(fresh))).status_code == 200


async def test_revocation_needs_a_live_token(client):
    assert (await client.delete("/v1/auth/token")).status_code == 401
    assert (await client.delete("/v1/auth/tokens", headers=bearer("nonsense"))).status_code == 401


async def test_a_miss_on_a_driver_connection_grants_as_the_session_does(client, session, settings):
    account = await make_account(client)
    key = hash_token(account["token"])
    by_session = await tokens.grant_for(session, settings, key)
    async with driver_connection(session) as conn:
        assert await tokens.grant_on(conn, settings, key) == by_session
    # Fallen behind: the miss slides it forward, as the session's does.
    await set_expiry(session, key, "now() + interval '10 minutes'")
    async with driver_connection(session) as conn:
        slid = await tokens.grant_on(conn, settings, key)
    row = await token_row(session, account["token"])
    idle = timedelta(seconds=settings.token_idle_seconds)
    assert slid is not None
    assert slid.expires_at == row["expires_at"].timestamp()
    assert row["expires_at"] >= row["created_at"] + idle - timedelta(hours=1)
    await set_expiry(session, key, "now() - interval '1 second'")
    async with driver_connection(session) as conn:
        assert await tokens.grant_on(conn, settings, key) is None


async def test_with_a_read_pool_misses_are_answered_from_it(settings, commit_database, redis):
    # Real commits (the pool cannot see the test's transaction), no token cache: every request
    # is a miss, looked up on the read pool.
    committed = settings.model_copy(
        update={"database_url": commit_database, "token_cache_seconds": 0, "db_read_pool_size": 2}
    )
    app = create_app(committed)
    app.state.db, app.state.redis = create_database(committed), redis
    await app.state.db.open_read_pool(committed)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            account = await make_account(client)
            assert (await client.get("/v1/me", headers=account["headers"])).status_code == 200
            assert app.state.db.read_pool.get_size() > 0
            assert (await client.get("/v1/me", headers=bearer("nope"))).status_code == 401
    finally:
        await app.state.db.dispose()
