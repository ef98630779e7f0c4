"""Fixtures on the real servers: PostGIS (a test database built by the migrations) and Redis.

Each test runs inside an outer transaction that is rolled back, and on a flushed Redis database.
Under CI (CI=1, yes or true) a missing server fails the run; locally it skips.
"""

import os
from collections.abc import AsyncIterator, Iterator
from itertools import count

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
from tests.redis_cluster import LocalCluster

BASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/geo")
TEST_DB_URL = os.environ.get("GEO_TEST_DATABASE_URL", BASE_URL.rsplit("/", 1)[0] + "/geo_test")
TEST_REDIS_URL = os.environ.get("GEO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def under_ci() -> bool:
    """CI=1, yes or true (any case, as CI systems set it): a missing server fails, not skips."""
    return os.environ.get("CI", "").strip().lower() in {"1", "yes", "true", "on"}


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
def migrated_database(settings: Settings) -> str:
    try:
        recreate_database(TEST_DB_URL)
    except psycopg.OperationalError as exc:
        _unavailable(f"PostgreSQL unreachable: {exc}")
    command.upgrade(alembic_config(settings), "heads")
    return TEST_DB_URL


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


_handles = count(1)


async def make_account(
    client: httpx.AsyncClient, *, kind: str = "member", handle: str | None = None
) -> dict:
    """Sign up through the API; returns the account with its token and auth headers."""
    handle = handle or f"user{os.getpid()}_{next(_handles)}"
    response = await client.post(
        "/v1/accounts", json={"handle": handle, "password": "correct horse", "kind": kind}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    body["headers"] = {"Authorization": f"Bearer {body['token']}"}
    return body


@pytest.fixture
async def member(client: httpx.AsyncClient) -> dict:
    return await make_account(client)


@pytest.fixture
async def business(client: httpx.AsyncClient) -> dict:
    return await make_account(client, kind="business")
