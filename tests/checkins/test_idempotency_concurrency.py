"""50 concurrent identical POSTs with one Idempotency-Key: one row, 50 identical answers.

Runs with real commits on separate pooled connections (not the rolled-back test transaction), so
the unique key in PostgreSQL is what serialises the twins; on the session's commit database, so
the shared test database keeps none of it. Twice: through sessions (no write pool), and on the
write pool's bare connections as in production (`geo.core.db.write_transaction`).
"""

import asyncio

import httpx
import pytest
from sqlalchemy import text

from geo.app import create_app
from geo.core.db import create_database
from tests.conftest import make_account

pytestmark = pytest.mark.redis_cluster


@pytest.fixture(params=["sessions", "write-pool"])
async def committed_client(request, settings, commit_database, redis):  # type: ignore[no-untyped-def]
    app = create_app(
        settings.model_copy(
            update={
                "database_url": commit_database,
                "db_pool_size": 20,
                "db_max_overflow": 40,
                "db_write_pool_size": 20,
            }
        )
    )
    app.state.db = create_database(app.state.settings)
    if request.param == "write-pool":
        await app.state.db.open_write_pool(app.state.settings)
    app.state.redis = redis
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, app.state.db
    await app.state.db.dispose()


async def test_concurrent_identical_posts_make_one_checkin(committed_client):
    client, db = committed_client
    account = await make_account(client)
    headers = {"Authorization": f"Bearer {account['token']}", "Idempotency-Key": "same-key"}
    # Named after its account: the commit database keeps the places of earlier runs.
    made = await client.post(
        "/v1/places",
        headers=account["headers"],
        json={"name": f"Cafe {account['handle']}", "category": "cafe", "lat": 35.0, "lon": 139.0},
    )
    assert made.status_code == 201, made.text
    place = made.json()
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
    # Each twin waits on the first one's key row, then reads its committed answer: the replays,
    # rendered from the stored JSON, are byte for byte the first answer.
    assert statuses == {201}
    assert len(created) == 50
    assert len({r.content for r in responses}) == 1
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT count(*) FROM checkins WHERE author_id = :a"),
                {"a": int(account["id"])},
            )
        ).scalar_one()
    assert rows == 1
    if db.write_pool is not None:
        assert db.write_pool.get_size() > 0  # the write pool's connections took the check-ins
    retry = await client.post("/v1/checkins", json=body, headers=headers)
    assert retry.status_code == 201
    assert retry.content == responses[0].content
