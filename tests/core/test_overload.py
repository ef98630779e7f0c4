"""An exhausted connection pool is the server's state, not a bug: 503 with Retry-After, not 500."""

import httpx

from geo.app import create_app
from geo.core.db import create_database


async def test_exhausted_pool_answers_503_problem(settings, migrated_database, redis):
    tight = settings.model_copy(
        update={"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout": 0.2}
    )
    app = create_app(tight)
    app.state.db, app.state.redis = create_database(tight), redis
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with app.state.db.engine.connect() as held:  # the pool's only connection
            await held.exec_driver_sql("SELECT 1")
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                # An unknown token is looked up in the database, which needs a connection.
                response = await client.get("/v1/me", headers={"Authorization": "Bearer nope"})
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "1"
        assert response.json()["title"] == "Service busy"
    finally:
        await app.state.db.dispose()
