"""50 concurrent identical POSTs with one Idempotency-Key: one row, 50 identical answers.

Runs with real commits on separate pooled connections (not the rolled-back test transaction), so
the unique key in PostgreSQL is what serialises the twins; it cleans up what it made.
"""

import asyncio

import httpx
import pytest
from sqlalchemy import text

from geo.app import create_app
from geo.core.db import create_database

pytestmark = pytest.mark.redis_cluster


@pytest.fixture
async def committed_client(settings, redis):  # type: ignore[no-untyped-def]
    app = create_app(settings.model_copy(update={"db_pool_size": 20, "db_max_overflow": 40}))
    app.state.db = create_database(app.state.settings)
    app.state.redis = redis
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, app.state.db
    await app.state.db.dispose()


async def test_concurrent_identical_posts_make_one_checkin(committed_client):
    client, db = committed_client
    account = (
        await client.post(
            "/v1/accounts",
            json={"handle": "idem_racer", "password": "racing-pass", "kind": "member"},
        )
    ).json()
    headers = {"Authorization": f"Bearer {account['token']}", "Idempotency-Key": "same-key"}
    place = (
        await client.post(
            "/v1/places",
            headers=headers,
            json={"name": "Race Track Cafe", "category": "cafe", "lat": 35.0, "lon": 139.0},
        )
    ).json()
    try:
        body = {
            "place_id": place["id"],
            "lat": 35.0,
            "lon": 139.0,
            "accuracy_m": 10,
            "audience": {"public": True},
        }
        responses = await asyncio.gather(
            *[client.post("/v1/checkins", json=body, headers=headers) for _ in range(50)]
        )
        statuses = {r.status_code for r in responses}
        created = [r.json() for r in responses if r.status_code == 201]
        # Each twin waits on the first one's key row, then reads its committed answer.
        assert statuses == {201}
        assert len(created) == 50
        assert all(c == created[0] for c in created)
        async with db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT count(*) FROM checkins WHERE author_id = :a"),
                    {"a": int(account["id"])},
                )
            ).scalar_one()
        assert rows == 1
        retry = await client.post("/v1/checkins", json=body, headers=headers)
        assert retry.status_code == 201
        assert retry.json() == created[0]
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM accounts WHERE id = :a"), {"a": int(account["id"])}
            )
            await conn.execute(text("DELETE FROM places WHERE id = :p"), {"p": int(place["id"])})
