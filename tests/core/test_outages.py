"""A missing server is answered, never dropped: 503 problem + Retry-After naming it, or served
without it where the route can (issue 12).

In process: the app's Redis client (or its database) is pointed at a loopback port where nothing
listens, a real client meeting a real refused connection. tests/faults/ does the same against real
servers that are stopped under a running `geo serve`.
"""

import asyncio
import time

import httpx
import pytest
from prometheus_client import generate_latest
from redis.exceptions import ConnectionError as RedisConnectionError

from geo.checkins import plausibility
from geo.core.auth import TokenCache
from geo.core.config import Settings
from geo.core.db import create_database
from geo.core.metrics import REGISTRY
from geo.core.outages import component_down
from geo.core.redis import create_redis
from geo.fanout.worker import drain
from tests.conftest import make_account
from tests.dashboard.factories import sign_in
from tests.live_server import free_port
from tests.places.factories import create_place

pytestmark = pytest.mark.usefixtures("migrated_database")


def assert_outage(response: httpx.Response, component: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["component"] == component


def outage_count(component: str) -> float:
    value = REGISTRY.get_sample_value("geo_outage_answers_total", {"component": component})
    return value or 0.0


class Outage:
    """Takes the app's Redis or database away mid-test: its clients then meet a refused port."""

    def __init__(self, app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
        self.app, self.settings = app, settings
        self.dead_redis = None
        self.dead_db = None

    def redis(self) -> None:
        url = f"redis://127.0.0.1:{free_port()}/0"
        self.dead_redis = self.app.state.redis = create_redis(Settings(redis_url=url))

    def postgresql(self) -> None:
        gone = self.settings.database_url.rsplit("@", 1)[0] + f"@127.0.0.1:{free_port()}/geo"
        self.dead_db = create_database(self.settings.model_copy(update={"database_url": gone}))
        self.app.state.db = self.dead_db

    async def close(self) -> None:
        if self.dead_redis is not None:
            await self.dead_redis.aclose()
        if self.dead_db is not None:
            await self.dead_db.dispose()


@pytest.fixture
async def outage(app, settings):  # type: ignore[no-untyped-def]
    outage = Outage(app, settings)
    yield outage
    await outage.close()


async def new_place(client: httpx.AsyncClient) -> dict:
    business = await make_account(client, kind="business")
    response = await create_place(client, business["headers"])
    assert response.status_code == 201, response.text
    return response.json()


def checkin_body(place: dict) -> dict:
    return {
        "place_id": place["id"],
        "lat": place["lat"],
        "lon": place["lon"],
        "accuracy_m": 10,
        "audience": {"circles": [], "public": True},
    }


async def test_checkins_are_accepted_and_replayed_while_redis_is_down(client, member, outage):
    place = await new_place(client)
    outage.redis()
    headers = {**member["headers"], "Idempotency-Key": "during-redis-outage"}

    first = await client.post("/v1/checkins", json=checkin_body(place), headers=headers)
    again = await client.post("/v1/checkins", json=checkin_body(place), headers=headers)

    assert first.status_code == 201, first.text
    assert again.status_code == 201
    assert again.json() == first.json()
    read = await client.get(f"/v1/checkins/{first.json()['id']}", headers=member["headers"])
    assert read.status_code == 200


async def test_the_checkin_rate_limit_holds_without_redis(client, member, outage):
    place = await new_place(client)
    outage.redis()
    # The limit is per clock minute: start the run well inside one, so no boundary splits it.
    if time.time() % 60 > 50:
        await asyncio.sleep(61 - time.time() % 60)
    statuses = [
        (
            await client.post("/v1/checkins", json=checkin_body(place), headers=member["headers"])
        ).status_code
        for _ in range(plausibility.MAX_PER_MINUTE + 1)
    ]
    assert statuses == [201] * plausibility.MAX_PER_MINUTE + [429]


async def test_routes_that_need_redis_answer_503_naming_it(client, member, outage):
    outage.redis()
    before = outage_count("redis")

    home = await client.get("/v1/timelines/home", headers=member["headers"])
    sign_in = await client.post(
        "/v1/auth/token", json={"handle": member["handle"], "password": "correct horse"}
    )
    stream = await client.get("/v1/timelines/home/stream", headers=member["headers"])
    public = await client.get("/v1/timelines/public", headers=member["headers"])

    for response in (home, sign_in, stream, public):
        assert_outage(response, "redis")
    assert outage_count("redis") == before + 4
    metrics = generate_latest(REGISTRY).decode()
    assert 'geo_outage_answers_total{component="redis"}' in metrics


async def test_place_reads_serve_without_redis_with_an_empty_ads_slot(client, member, outage):
    place = await new_place(client)
    outage.redis()
    nearby = await client.get(
        "/v1/places/nearby",
        params={"lat": place["lat"], "lon": place["lon"], "radius_m": 500},
        headers=member["headers"],
    )
    assert nearby.status_code == 200, nearby.text
    assert place["id"] in [p["id"] for p in nearby.json()["places"]]
    assert nearby.json()["ads"] == []
    box = f"{place['lon'] - 0.01},{place['lat'] - 0.01},{place['lon'] + 0.01},{place['lat'] + 0.01}"
    others = [
        await client.get("/v1/places", params={"bbox": box}, headers=member["headers"]),
        await client.get(f"/v1/places/{place['id']}", headers=member["headers"]),
        await client.get(
            "/v1/timelines/public",
            params={"lat": place["lat"], "lon": place["lon"]},
            headers=member["headers"],
        ),
    ]
    assert [r.status_code for r in others] == [200, 200, 200], [r.text[:200] for r in others]


async def test_healthz_names_redis_when_redis_is_down(client, outage):
    outage.redis()
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"]
    body = response.json()
    assert body["components"] == {"postgresql": "up", "redis": "down"}
    assert body["down"] == ["redis"]


async def test_routes_that_need_postgresql_answer_503_naming_it(client, member, outage):
    outage.postgresql()
    before = outage_count("postgresql")
    checkin = await client.post(
        "/v1/checkins",
        json={"place_id": "1", "lat": 0, "lon": 0, "accuracy_m": 10, "audience": {}},
        headers=member["headers"],
    )
    nearby = await client.get(
        "/v1/places/nearby", params={"lat": 0, "lon": 0}, headers=member["headers"]
    )
    assert_outage(checkin, "postgresql")
    assert_outage(nearby, "postgresql")
    assert outage_count("postgresql") == before + 2


async def test_healthz_names_postgresql_when_postgresql_is_down(client, outage):
    outage.postgresql()
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["components"] == {"postgresql": "down", "redis": "up"}
    assert response.json()["down"] == ["postgresql"]


async def test_a_dashboard_session_is_not_signed_out_by_a_redis_outage(client, outage):
    business = await make_account(client, kind="business")
    assert (await sign_in(client, business)).status_code == 303
    outage.redis()
    page = await client.get("/dashboard")
    # 503 (the browser retries), not the sign-in form as if the session had ended.
    assert_outage(page, "redis")


async def test_an_outage_is_read_from_the_real_errors_and_a_bug_is_not_one(settings):
    port = free_port()  # nothing listens there
    redis = create_redis(Settings(redis_url=f"redis://127.0.0.1:{port}/0"))
    with pytest.raises(RedisConnectionError) as redis_error:
        await redis.ping()
    await redis.aclose()
    db = create_database(
        settings.model_copy(update={"database_url": f"postgresql://postgres@127.0.0.1:{port}/x"})
    )
    with pytest.raises(ConnectionRefusedError) as postgres_error:
        async with db.engine.connect():
            pass
    await db.dispose()

    assert component_down(redis_error.value) == "redis"
    assert component_down(postgres_error.value) == "postgresql"
    # A bug raised while handling an outage is a bug (500), not the outage.
    bug = KeyError("missing")
    bug.__context__ = redis_error.value  # what Python sets when it is raised in the except block
    assert component_down(bug) is None
    # Wrapped with `raise ... from` (as drivers and services do) it is still the outage.
    wrapped = RuntimeError("while deciding")
    wrapped.__cause__ = postgres_error.value
    assert component_down(wrapped) == "postgresql"


async def test_a_home_timeline_is_never_shown_unchecked_without_postgresql(
    app, client, member, redis, outage
):
    # The token is cached (as in production), so the request gets past auth without PostgreSQL
    # and reaches the feed in Redis: its items' visibility needs PostgreSQL, so 503, not items.
    app.state.token_cache = TokenCache(60)
    place = await new_place(client)
    made = await client.post("/v1/checkins", json=checkin_body(place), headers=member["headers"])
    assert made.status_code == 201
    await drain(app.state.db, redis)
    home = await client.get("/v1/timelines/home", headers=member["headers"])
    assert [item["id"] for item in home.json()["items"]] == [made.json()["id"]]
    quiet = await make_account(client)
    assert (await client.get("/v1/timelines/home", headers=quiet["headers"])).status_code == 200
    outage.postgresql()
    # Auth passes on the cache: an empty feed has nothing to check and is answered.
    empty = await client.get("/v1/timelines/home", headers=quiet["headers"])
    assert empty.status_code == 200
    assert empty.json()["items"] == []
    assert_outage(await client.get("/v1/timelines/home", headers=member["headers"]), "postgresql")
