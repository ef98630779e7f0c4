"""The hot paths' driver connection: the same transaction as the session, or the read pool."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from geo.core.config import Settings
from geo.core.db import Database, driver_connection, native_sql
from tests.conftest import TEST_DB_URL


def test_native_sql_numbers_names_and_keeps_casts_and_literals():
    sql, names = native_sql(
        "SELECT CAST(:lon AS float8), :lat, :lon, x::text, '10:30', 'HH24:MI' FROM t WHERE a = :a"
    )
    assert names == ("lon", "lat", "a")
    assert (
        sql == "SELECT CAST($1 AS float8), $2, $1, x::text, '10:30', 'HH24:MI' FROM t WHERE a = $3"
    )


async def test_driver_statements_join_the_sessions_transaction(session):
    # Written through SQLAlchemy, uncommitted: only the same transaction can see it.
    await session.execute(
        text("INSERT INTO accounts (handle, password_hash, kind) VALUES ('drv-1', 'x', 'member')")
    )
    async with driver_connection(session) as conn:
        assert await conn.fetchval("SELECT count(*) FROM accounts WHERE handle = 'drv-1'") == 1
        await conn.execute(
            "INSERT INTO accounts (handle, password_hash, kind) VALUES ('drv-2', 'x', 'member')"
        )
    # ...and what the driver wrote is in the session's transaction too (rolled back with it).
    found = await session.execute(text("SELECT count(*) FROM accounts WHERE handle = 'drv-2'"))
    assert found.scalar_one() == 1


async def test_read_sessions_of_a_database_with_a_read_pool_use_that_pool(engine, session):
    db = Database(engine, async_sessionmaker(engine, expire_on_commit=False))
    await db.open_read_pool(Settings(database_url=TEST_DB_URL, db_read_pool_size=2))
    try:
        assert db.read_pool is not None
        async with db.read_sessionmaker() as read:  # type: ignore[misc]
            read.info["read_pool"] = db.read_pool
            async with driver_connection(read) as conn:
                pooled_pid = conn.get_server_pid()
                assert await conn.fetchval("SELECT count(*) > 0 FROM categories")
        async with driver_connection(session) as conn:
            assert conn.get_server_pid() != pooled_pid
    finally:
        await db.read_pool.close()  # type: ignore[union-attr]
