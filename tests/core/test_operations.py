from geo.app import create_app


async def test_healthz_answers_when_servers_answer(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "components": {"postgresql": "up", "redis": "up"},
    }


async def test_metrics_are_prometheus_text(client, member):
    await client.get("/v1/me", headers=member["headers"])
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert 'geo_http_requests_total{method="GET",route="/v1/me",status="200"}' in response.text


async def test_request_id_is_echoed(client):
    response = await client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert response.headers["x-request-id"] == "abc123"


async def test_unknown_route_is_a_problem(client):
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_create_app_connects_to_nothing():
    from geo.core.config import Settings

    app = create_app(
        Settings(
            database_url="postgresql://nobody@127.0.0.1:1/none", redis_url="redis://127.0.0.1:1/0"
        )
    )
    assert "/v1/places/nearby" in app.openapi()["paths"]
