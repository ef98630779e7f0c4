"""Fixtures on the real servers: PostGIS (a test database built by the migrations) and Redis.

Each test runs inside an outer transaction that is rolled back, and on a flushed Redis database.
Tests that must commit use `commit_database` (a database of their own, derived from the test
database's name), so the shared test database never keeps their rows. Under any truthy CI
(`1`, `true`, `yes`, `on`, any case) a missing server fails the run; locally it skips.
"""

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from alembic import command
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from geo.app import create_app
from geo.cli import alembic_config
from geo.core.config import Settings, driver_url
from geo.core.db import Database
from geo.core.redis import RedisClient, create_redis
from tests.accounts.factories import make_account
from tests.checkins.factories import make_world
from tests.fixtures.ads import fresh_ads_index  # noqa: F401  (a shared fixture)
from tests.redis_cluster import LocalCluster

BASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/geo")
TEST_DB_URL = os.environ.get("GEO_TEST_DATABASE_URL", BASE_URL.rsplit("/", 1)[0] + "/geo_test")
TEST_REDIS_URL = os.environ.get("GEO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


COMMIT_DB_URL = TEST_DB_URL + "_commit"
# Checked empty at the end of the session (the migrations seed categories, not these).
KEPT_NOTHING = ("accounts", "places", "checkins", "outbox", "campaigns", "ad_budget_leases")
TRUTHY = frozenset({"1", "true", "yes", "on"})


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in TRUTHY


def _unavailable(reason: str) -> None:
    if under_ci():
        pytest.fail(f"required server unavailable under CI: {reason}")
    pytest.skip(reason)


def plain(url: str) -> str:
    return driver_url(url, "psycopg").replace("postgresql+psycopg", "postgresql")


def recreate_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(plain(base + "/postgres"), autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@pytest.fixture(scope="session")
def settings() -> Settings:
    # The suite signs up many accounts from one loopback address: exempt it from the per-address
    # limits (tests/accounts/test_throttle.py builds apps without the exemption).
    return Settings(
        database_url=TEST_DB_URL,
        redis_url=TEST_REDIS_URL,
        token_cache_seconds=0,
        allow_dev_secret=True,
        rate_limit_exempt="127.0.0.1",
    )


@pytest.fixture(scope="session")
def migrated_database(settings: Settings) -> Iterator[str]:
    try:
        recreate_database(TEST_DB_URL)
    except psycopg.OperationalError as exc:
        _unavailable(f"PostgreSQL unreachable: {exc}")
    command.upgrade(alembic_config(settings), "heads")
    yield TEST_DB_URL
    # Every test rolled back or committed elsewhere (commit_database): nothing may be left here.
    with psycopg.connect(plain(TEST_DB_URL)) as conn:
        left = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in KEPT_NOTHING
        }
    assert not any(left.values()), f"rows committed to the shared test database: {left}"


@pytest.fixture(scope="session")
def commit_database(settings: Settings) -> str:
    """A migrated database for tests that commit (concurrency across pooled connections, the CLI,
    importers): what they leave stays out of the rolled-back test database and dies with the
    session. Its name is derived from GEO_TEST_DATABASE_URL, so each checkout has its own."""
    try:
        recreate_database(COMMIT_DB_URL)
    except psycopg.OperationalError as exc:
        _unavailable(f"PostgreSQL unreachable: {exc}")
    command.upgrade(
        alembic_config(settings.model_copy(update={"database_url": COMMIT_DB_URL})), "heads"
    )
    return COMMIT_DB_URL


@pytest.fixture(scope="session")
async def commit_engine(commit_database: str):  # type: ignore[no-untyped-def]
    engine = create_async_engine(driver_url(commit_database, "asyncpg"), pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def engine(migrated_database: str):  # type: ignore[no-untyped-def]
    engine = create_async_engine(driver_url(migrated_database, "asyncpg"), pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db_connection(engine):  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        await outer.rollback()


@pytest.fixture
async def session(db_connection) -> AsyncIterator[AsyncSession]:  # type: ignore[no-untyped-def]
    maker = async_sessionmaker(
        bind=db_connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    async with maker() as s:
        yield s


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `redis_cluster` run twice: on the single Redis and on a local Redis Cluster."""
    if "redis" in metafunc.fixturenames and metafunc.definition.get_closest_marker("redis_cluster"):
        metafunc.parametrize("redis", ["single", "cluster"], indirect=True)


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """A private 3-master cluster on free loopback ports, started once and torn down at the end."""
    try:
        cluster = LocalCluster().start()
    except (FileNotFoundError, RuntimeError) as exc:
        _unavailable(f"cannot start a local Redis Cluster: {exc}")
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
async def redis(request: pytest.FixtureRequest) -> AsyncIterator[RedisClient]:
    url = TEST_REDIS_URL
    if getattr(request, "param", "single") == "cluster":
        url = request.getfixturevalue("redis_cluster_url")
    client = create_redis(Settings(redis_url=url))
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001
        await client.aclose()
        _unavailable(f"Redis unreachable: {exc}")
    # On the cluster FLUSHDB goes to every primary; the cluster is this session's alone.
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def app(settings: Settings, engine, db_connection, redis):  # type: ignore[no-untyped-def]
    application = create_app(settings)
    # Every request's session joins the test's outer transaction through a savepoint.
    maker = async_sessionmaker(
        bind=db_connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    # Read-only sessions (autocommit in production) take no savepoint: closing one while another
    # task's session is open on the same test connection must not roll that session's work back.
    reader = async_sessionmaker(
        bind=db_connection, expire_on_commit=False, join_transaction_mode="rollback_only"
    )
    application.state.db = Database(engine, maker, reader)
    application.state.redis = redis
    return application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
async def member(client: httpx.AsyncClient) -> dict:
    return await make_account(client)


@pytest.fixture
async def business(client: httpx.AsyncClient) -> dict:
    return await make_account(client, kind="business")


@pytest.fixture
async def advertiser(client: httpx.AsyncClient) -> dict:
    return await make_account(client, kind="business")


@pytest.fixture
async def world(client: httpx.AsyncClient) -> dict:
    """An author, a friend in the author's circle, a follower-to-be, a stranger, a place."""
    return await make_world(client)


@pytest.fixture
def small_k(app):  # type: ignore[no-untyped-def]
    """Reports with k=3, so a handful of test accounts can pass the floor, and negligible noise
    (epsilon 1e9 per figure), so figures can be compared with the raw ledger exactly. The noise
    itself is proved in tests/reports/test_noise.py."""
    app.state.settings = app.state.settings.model_copy(
        update={"report_k": 3, "report_epsilon": 1e9, "report_epsilon_per_day": 1e15}
    )
    return 3
