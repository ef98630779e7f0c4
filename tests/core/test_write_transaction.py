"""`write_transaction`: the hot write's one transaction on the write pool (real commits, on the
session's commit database) or, without a pool, on a session's connection."""

import asyncio
from types import SimpleNamespace

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout

from geo.core.config import Settings
from geo.core.db import create_database, write_transaction


@pytest.fixture
async def pooled(commit_database):  # type: ignore[no-untyped-def]
    settings = Settings(database_url=commit_database, db_write_pool_size=1, db_pool_timeout=0.2)
    db = create_database(settings)
    await db.open_write_pool(settings)
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(db=db)))
    await _run(db, "CREATE TABLE IF NOT EXISTS write_tx_probe (v text)")
    await _run(db, "TRUNCATE write_tx_probe")
    yield db, request
    await _run(db, "DROP TABLE write_tx_probe")
    await db.dispose()


async def _run(db, sql):  # type: ignore[no-untyped-def]
    async with db.engine.begin() as conn:
        result = await conn.execute(text(sql))
        return result.all() if result.returns_rows else None


async def test_the_block_commits_when_it_ends_and_rolls_back_when_it_raises(pooled):
    db, request = pooled
    async with write_transaction(request) as conn:
        await conn.execute("INSERT INTO write_tx_probe VALUES ('kept')")

    async def insert_then_fail() -> None:
        async with write_transaction(request) as conn:
            await conn.execute("INSERT INTO write_tx_probe VALUES ('dropped')")
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await insert_then_fail()
    assert await _run(db, "SELECT v FROM write_tx_probe") == [("kept",)]
    # The connection went back to the pool outside any transaction.
    async with write_transaction(request) as conn:
        assert await conn.fetchval("SELECT count(*) FROM write_tx_probe") == 1


async def test_a_pool_busy_for_its_whole_timeout_answers_the_overloaded_503(pooled):
    _, request = pooled
    holding = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with write_transaction(request):
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await holding.wait()

    async def one_more() -> None:
        async with write_transaction(request):
            pass

    try:
        # The session pool's timeout error: geo.core.errors answers it 503 "Service busy".
        with pytest.raises(PoolTimeout):
            await one_more()
    finally:
        release.set()
        await holder


async def test_without_a_write_pool_the_block_is_a_session_in_the_tests_transaction(app, session):
    request = SimpleNamespace(app=app)
    assert app.state.db.write_pool is None
    async with write_transaction(request) as conn:  # type: ignore[arg-type]
        await conn.execute(
            "INSERT INTO accounts (handle, password_hash, kind) VALUES ('wtx-1', 'x', 'member')"
        )
    # Committed to the test's outer transaction (a savepoint released), so visible on it.
    found = await session.execute(text("SELECT count(*) FROM accounts WHERE handle = 'wtx-1'"))
    assert found.scalar_one() == 1
