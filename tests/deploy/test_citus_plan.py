"""The schema keeps to the Citus plan (deploy/citus/plan.toml).

Citus distributes a table by one column. It can keep a unique constraint on a distributed table
only if the constraint includes that column, and a foreign key only from a distributed table to a
reference table, or between two co-located distributed tables on their distribution columns;
nothing may point from a reference or local table into a distributed one. Every place where
today's schema breaks those rules must be listed in the plan with its fix, so a new migration
cannot make the move harder unnoticed, and a fixed one must leave the list.
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.conftest import plain

PLAN_FILE = Path(__file__).resolve().parents[2] / "deploy" / "citus" / "plan.toml"
NOT_OURS = {"alembic_version", "spatial_ref_sys"}


@dataclass(frozen=True)
class Layout:
    kind: str
    column: str | None = None
    group: str | None = None


@pytest.fixture(scope="module")
def plan() -> tuple[dict[str, Layout], dict[str, str]]:
    raw = tomllib.loads(PLAN_FILE.read_text())
    tables = {name: Layout(**spec) for name, spec in raw["tables"].items()}
    blockers = {b["name"]: b["fix"] for b in raw.get("blockers", [])}
    return tables, blockers


@pytest.fixture(scope="module")
def catalog(migrated_database: str) -> psycopg.Connection:
    with psycopg.connect(plain(migrated_database)) as conn:
        yield conn


def _tables(conn: psycopg.Connection) -> set[str]:
    # Partitions (of the day-partitioned ledgers) are not tables of their own to Citus.
    rows = conn.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        " AND relkind IN ('r', 'p') AND NOT relispartition"
    ).fetchall()
    return {r[0] for r in rows} - NOT_OURS


def _columns(conn: psycopg.Connection, table: str) -> set[str]:
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
        " AND NOT attisdropped",
        (table,),
    ).fetchall()
    return {r[0] for r in rows}


def _unique_indexes(conn: psycopg.Connection, table: str) -> list[tuple[str, set[str]]]:
    """Each unique index (primary keys included) with the plain columns it covers; an expression
    such as lower(handle) covers no column."""
    rows = conn.execute(
        """SELECT i.indexrelid::regclass::text,
                  array_remove(array_agg(a.attname::text), NULL)
           FROM pg_index i
           LEFT JOIN pg_attribute a
             ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) AND a.attnum > 0
           WHERE i.indrelid = %s::regclass AND i.indisunique
           GROUP BY i.indexrelid""",
        (table,),
    ).fetchall()
    return [(name, set(columns)) for name, columns in rows]


def _foreign_keys(conn: psycopg.Connection) -> list[tuple[str, str, str, list[str], list[str]]]:
    return conn.execute(
        """SELECT c.conname, c.conrelid::regclass::text, c.confrelid::regclass::text,
                  ARRAY(SELECT attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                        JOIN pg_attribute ON attrelid = c.conrelid AND attnum = k.n ORDER BY o),
                  ARRAY(SELECT attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
                        JOIN pg_attribute ON attrelid = c.confrelid AND attnum = k.n ORDER BY o)
           FROM pg_constraint c
           WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace"""
    ).fetchall()


def _fk_allowed(src: Layout, dst: Layout, columns: list[str], referenced: list[str]) -> bool:
    if dst.kind == "reference":
        return src.kind in ("reference", "distributed")
    if dst.kind == "local":
        return src.kind == "local"
    # Into a distributed table: only from a co-located one, distribution column to column.
    return (
        src.kind == "distributed"
        and src.group == dst.group
        and (src.column, dst.column) in zip(columns, referenced, strict=True)
    )


def citus_blockers(conn: psycopg.Connection, tables: dict[str, Layout]) -> set[str]:
    found: set[str] = set()
    for table, layout in tables.items():
        if layout.kind != "distributed":
            continue
        if layout.column not in _columns(conn, table):
            found.add(f"column:{table}.{layout.column}")
            continue
        found |= {name for name, cols in _unique_indexes(conn, table) if layout.column not in cols}
    for name, src, dst, columns, referenced in _foreign_keys(conn):
        if not _fk_allowed(tables[src], tables[dst], columns, referenced):
            found.add(name)
    return found


def test_every_table_has_a_place_in_the_plan(catalog, plan):
    tables, _ = plan
    assert _tables(catalog) == set(tables), "add new tables to deploy/citus/plan.toml"
    for name, layout in tables.items():
        assert layout.kind in ("distributed", "reference", "local"), name
        assert (layout.kind == "distributed") == bool(layout.column and layout.group), name


def test_what_citus_could_not_keep_is_exactly_the_plans_blockers(catalog, plan):
    tables, blockers = plan
    found = citus_blockers(catalog, tables)
    assert found - set(blockers) == set(), "new constraints Citus could not keep: fix or list them"
    assert set(blockers) - found == set(), "listed blockers that are gone: take them out"


def test_the_rules_catch_what_they_should(catalog, plan):
    # The checker itself, on plans that break each rule once: a non-co-located key, a reference
    # table pointing into a distributed one, and a missing distribution column.
    tables, _ = plan
    moved = {**tables, "checkins": Layout("distributed", "author_id", "elsewhere")}
    assert "fk_checkins_author_id_accounts" in citus_blockers(catalog, moved)
    flipped = {**tables, "checkins": Layout("reference")}
    assert "fk_checkins_author_id_accounts" in citus_blockers(catalog, flipped)
    missing = {**tables, "follows": Layout("distributed", "nope", "account")}
    assert "column:follows.nope" in citus_blockers(catalog, missing)
