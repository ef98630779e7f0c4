"""Alembic environment: a synchronous psycopg connection to DATABASE_URL (or -x url=...).

`alembic check` (tests/test_migrations.py) compares the models with a migrated database. What the
comparison leaves out, and why:
- partitions of the partitioned tables (the ledgers, the outbox): made and dropped at run time by
  geo/core/partitions.py, not by migrations; the partitioned parents are compared;
- PostGIS's own tables and the indexes GeoAlchemy2 makes itself (`alembic_helpers.include_object`);
- the type of `hll` columns is compared by name only (SQLAlchemy does not reflect it).
Autogenerate never sees functions, triggers, sequences' options or check constraints; revisions
own those.
"""

import warnings
from typing import Any

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.types import NullType

from geo.core.config import driver_url, get_settings
from geo.models import metadata
from geo.reports.models import HLL

config = context.config
warnings.filterwarnings("ignore", message="Did not recognize type 'hll'")


def _url() -> str:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or get_settings().database_url
    )
    return driver_url(url, "psycopg")


def _partitions(engine: Engine) -> set[str]:
    # On a connection of its own: the migrations' connection must start with no transaction open.
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT relname FROM pg_class WHERE relispartition"))
        return {r[0] for r in rows}


def _include_name(partitions: set[str]) -> Any:
    def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        if type_ == "table":
            return name not in partitions
        return True

    return include_name


def _compare_type(
    context: Any, inspected: Any, metadata_column: Any, inspected_type: Any, metadata_type: Any
) -> bool | None:
    # SQLAlchemy reflects the hll extension's type as NullType: same name, no difference.
    if isinstance(metadata_type, HLL) and isinstance(inspected_type, NullType):
        return False
    return None  # the default comparison


def _options() -> dict[str, Any]:
    return {
        "target_metadata": metadata,
        "include_object": alembic_helpers.include_object,
        "process_revision_directives": alembic_helpers.writer,
        "render_item": alembic_helpers.render_item,
        "compare_type": _compare_type,
    }


def run_migrations_offline() -> None:
    context.configure(url=_url(), literal_binds=True, **_options())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    include_name = _include_name(_partitions(engine))
    with engine.connect() as connection:
        context.configure(connection=connection, include_name=include_name, **_options())
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
