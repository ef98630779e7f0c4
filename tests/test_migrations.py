"""The migrations build the schema from nothing, tear it down, and build it again."""

import psycopg
from alembic import command

from geo.cli import alembic_config
from geo.core.config import Settings
from tests.conftest import TEST_DB_URL, plain, recreate_database


def _tables(url: str) -> set[str]:
    with psycopg.connect(plain(url)) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_upgrade_downgrade_upgrade(migrated_database):
    url = TEST_DB_URL + "_migrations"
    recreate_database(url)
    config = alembic_config(Settings(database_url=url))
    command.upgrade(config, "heads")
    assert {"places", "accounts", "account_tokens", "categories"} <= _tables(url)
    command.downgrade(config, "base")
    assert _tables(url) <= {"alembic_version"}
    command.upgrade(config, "heads")
    assert "places" in _tables(url)


def test_the_models_match_the_migrated_schema(migrated_database):
    """`alembic check`: autogenerate finds nothing to do, so every table, column, index and
    foreign key the revisions make has its model (migrations/env.py says what is left out)."""
    command.check(alembic_config(Settings(database_url=migrated_database)))
