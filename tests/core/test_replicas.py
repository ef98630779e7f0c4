"""Read replicas on a real streaming replica (a private primary and its `pg_basebackup` copy).

Lag-tolerant reads (nearby, a box, categories, place pages) go to the replica while it is
healthy; one that falls behind (replay paused) or goes away (stopped) degrades to the primary,
never to an error or to a stale read of one's own write.
"""

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest

from geo.app import create_app
from geo.cli import alembic_config
from geo.core.config import Settings
from geo.core.metrics import LAG_TOLERANT_READS
from tests.conftest import TEST_REDIS_URL, _unavailable, make_account
from tests.pg_cluster import LocalPostgres

SPOT = (35.6812, 139.7671)  # Tokyo station


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[LocalPostgres, LocalPostgres]]:
    try:
        primary = LocalPostgres.primary()
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        _unavailable(f"cannot start a private PostgreSQL: {exc}")
    try:
        with psycopg.connect(primary.admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE geo")
        from alembic import command

        command.upgrade(alembic_config(Settings(database_url=primary.url("geo"))), "heads")
        replica = primary.replica()
        try:
            yield primary, replica
        finally:
            replica.stop("immediate")
    finally:
        primary.remove()


@pytest.fixture
async def client(servers) -> AsyncIterator[httpx.AsyncClient]:
    primary, replica = servers
    settings = Settings(
        database_url=primary.url("geo"),
        database_replica_urls=replica.url("geo"),
        redis_url=TEST_REDIS_URL,
        replica_max_lag_s=0.5,
        replica_check_s=0.1,
        run_workers_in_process=False,
        token_cache_seconds=0,
        allow_dev_secret=True,  # the lifespan runs: it refuses the default secret otherwise
        rate_limit_exempt="127.0.0.1",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.redis.flushdb()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            c.app = app  # type: ignore[attr-defined]
            await _until(lambda: app.state.db.replicas.healthy[0], "the replica is healthy")
            yield c


async def _until(predicate, what: str, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        await asyncio.sleep(0.05)


def _reads(target: str) -> float:
    return LAG_TOLERANT_READS.labels(target)._value.get()


def _replay(replica: LocalPostgres, action: str) -> None:
    with psycopg.connect(replica.url("geo"), autocommit=True) as conn:
        conn.execute(f"SELECT pg_wal_replay_{action}()")


async def _new_place(client: httpx.AsyncClient, owner: dict, name: str) -> dict:
    answer = await client.post(
        "/v1/places",
        json={"name": name, "category": "coffee-shop", "lat": SPOT[0], "lon": SPOT[1]},
        headers=owner["headers"],
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def _nearby_ids(client: httpx.AsyncClient, who: dict) -> set[str]:
    answer = await client.get(
        "/v1/places/nearby",
        params={"lat": SPOT[0], "lon": SPOT[1], "radius_m": 300, "limit": 100},
        headers=who["headers"],
    )
    assert answer.status_code == 200, answer.text
    return {p["id"] for p in answer.json()["places"]}


async def test_lag_tolerant_reads_are_served_by_the_healthy_replica(client):
    reader = await make_account(client)
    await asyncio.sleep(0.2)  # the sign-up's own marker has no effect on the reads below
    before = _reads("replica")
    paths = [
        ("/v1/places/nearby", {"lat": SPOT[0], "lon": SPOT[1]}),
        ("/v1/places", {"bbox": "139.7,35.6,139.8,35.7"}),
        ("/v1/categories", {}),
    ]
    for path, params in paths:
        answer = await client.get(path, params=params, headers=reader["headers"])
        assert answer.status_code == 200, answer.text
    assert _reads("replica") - before == len(paths)


async def test_own_writes_are_read_back_even_from_a_lagging_replica(client, servers):
    _, replica = servers
    replicas = client.app.state.db.replicas  # type: ignore[attr-defined]
    owner = await make_account(client, kind="business")
    other = await make_account(client)
    # A lag bound so loose that the paused replica stays in use: only the writer's marker can
    # send the writer's reads to the primary.
    replicas.max_lag_s = 3600
    _replay(replica, "pause")
    try:
        place = await _new_place(client, owner, "Own write cafe")
        assert place["id"] in await _nearby_ids(client, owner)
        page = await client.get(f"/v1/places/{place['id']}", headers=owner["headers"])
        assert page.status_code == 200
        # The replica really is behind: someone else, reading from it, does not see it yet.
        assert place["id"] not in await _nearby_ids(client, other)
    finally:
        replicas.max_lag_s = 0.5
        _replay(replica, "resume")


async def test_a_replica_that_falls_behind_is_left_for_the_primary(client, servers):
    _, replica = servers
    owner = await make_account(client, kind="business")
    other = await make_account(client)
    _replay(replica, "pause")
    try:
        place = await _new_place(client, owner, "Behind cafe")
        app = client.app  # type: ignore[attr-defined]
        await _until(lambda: not app.state.db.replicas.healthy[0], "the lag is noticed")
        primary_reads = _reads("primary")
        # Someone else, with no marker: the stale replica is skipped, the new place is there.
        assert place["id"] in await _nearby_ids(client, other)
        page = await client.get(f"/v1/places/{place['id']}", headers=other["headers"])
        assert page.status_code == 200
        assert _reads("primary") - primary_reads == 2
    finally:
        _replay(replica, "resume")
    await _until(lambda: app.state.db.replicas.healthy[0], "the replica caught up")
    await asyncio.sleep(0.6)  # the owner's marker has expired too
    assert place["id"] in await _nearby_ids(client, other)


async def test_a_place_page_missed_by_the_replica_is_asked_of_the_primary(client, servers):
    _, replica = servers
    replicas = client.app.state.db.replicas  # type: ignore[attr-defined]
    owner = await make_account(client, kind="business")
    other = await make_account(client)
    # A lag bound so loose that the paused replica stays in use: it lacks the new row.
    replicas.max_lag_s = 3600
    _replay(replica, "pause")
    try:
        place = await _new_place(client, owner, "Fresh link cafe")
        replica_reads = _reads("replica")
        page = await client.get(f"/v1/places/{place['id']}", headers=other["headers"])
        assert _reads("replica") - replica_reads == 1, "the read went to the replica"
        assert page.status_code == 200, page.text
        assert page.json()["id"] == place["id"]
    finally:
        replicas.max_lag_s = 0.5
        _replay(replica, "resume")


async def test_a_replica_that_goes_away_degrades_to_the_primary_without_errors(client, servers):
    _, replica = servers
    reader = await make_account(client)
    app = client.app  # type: ignore[attr-defined]
    replica.stop("immediate")
    try:
        # Right after the stop (the checker may not have run): pooled replica connections are
        # dead, and the pre-ping sends the read to the primary.
        for _ in range(5):
            answer = await client.get(
                "/v1/places/nearby",
                params={"lat": SPOT[0], "lon": SPOT[1]},
                headers=reader["headers"],
            )
            assert answer.status_code == 200, answer.text
        await _until(lambda: not app.state.db.replicas.healthy[0], "the outage is noticed")
        primary_reads = _reads("primary")
        answer = await client.get("/v1/categories", headers=reader["headers"])
        assert answer.status_code == 200
        assert _reads("primary") - primary_reads == 1
    finally:
        replica.start()
    await _until(lambda: app.state.db.replicas.healthy[0], "the replica is back")
