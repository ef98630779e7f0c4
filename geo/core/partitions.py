"""Daily partitions of id-partitioned tables (the ad ledgers and the outbox; migration 0006).

Ids are snowflakes, so the partition of UTC day D holds ids in [floor(D), floor(D + 1 day)). The
maintenance makes partitions some days ahead (a row beyond them lands in the default partition
and is moved into its day's partition when that one is made) and drops a day's partition once
its domain says the day is past keeping. Plain PostgreSQL partitioning rather than pg_partman:
pg_partman's time partitioning needs the timestamp in every unique key (breaking the ledger's
idempotent `ON CONFLICT (id)` writes) and its id partitioning cannot align ranges to days.
"""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.core.ids import EPOCH_MS, id_floor_for

_BOUND = re.compile(r"FROM \((?:MINVALUE|'?(-?\d+)'?)\) TO \('?(-?\d+)'?\)")


@dataclass(frozen=True)
class Partition:
    name: str
    lower: int | None  # None: from MINVALUE (the history partition)
    upper: int

    @property
    def ends(self) -> datetime:
        """The moment after its last possible row."""
        return id_time(self.upper)


def id_time(snowflake: int) -> datetime:
    return datetime.fromtimestamp(((snowflake >> 22) + EPOCH_MS) / 1000, UTC)


def day_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def _day_bounds(day: date) -> tuple[int, int]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return id_floor_for(start), id_floor_for(start + timedelta(days=1))


async def partitions(conn: AsyncConnection, table: str) -> list[Partition]:
    """The range partitions of `table` (the default one left out), oldest first."""
    rows = await conn.execute(
        text("""SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
                FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = CAST(:t AS regclass)"""),
        {"t": table},
    )
    found = []
    for name, bound in rows:
        match = _BOUND.search(bound)
        if match:
            lower = int(match.group(1)) if match.group(1) is not None else None
            found.append(Partition(name, lower, int(match.group(2))))
    return sorted(found, key=lambda p: p.upper)


async def ensure_days(conn: AsyncConnection, table: str, *, today: date, ahead: int) -> list[str]:
    """Make the partitions of `today` .. `today + ahead` that are missing; returns their names.

    Rows already in the default partition for such a day are moved into it first (attaching a
    range that the default partition still holds rows of would fail)."""
    covered = [(p.lower, p.upper) for p in await partitions(conn, table)]
    made = []
    for offset in range(ahead + 1):
        day = today + timedelta(days=offset)
        lower, upper = _day_bounds(day)
        if any((lo is None or lo < upper) and lower < hi for lo, hi in covered):
            continue  # the history partition (or an existing day) already covers it
        name = day_name(table, day)
        key = await _partition_key(conn, table)
        await conn.execute(text(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS)"))
        await conn.execute(
            text(f"""WITH moved AS (DELETE FROM {table}_default
                                  WHERE {key} >= :lo AND {key} < :hi RETURNING *)
                     INSERT INTO {name} SELECT * FROM moved"""),
            {"lo": lower, "hi": upper},
        )
        await conn.execute(
            text(
                f"ALTER TABLE {table} ATTACH PARTITION {name}"
                f" FOR VALUES FROM ({lower}) TO ({upper})"
            )
        )
        made.append(name)
    return made


async def _partition_key(conn: AsyncConnection, table: str) -> str:
    return (
        await conn.execute(
            text("""SELECT a.attname FROM pg_partitioned_table p
                    JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
                    WHERE p.partrelid = CAST(:t AS regclass)"""),
            {"t": table},
        )
    ).scalar_one()


DropGuard = Callable[[AsyncConnection, Partition], Awaitable[bool]]


async def drop_ended_before(
    conn: AsyncConnection, table: str, *, cutoff: datetime, may_drop: DropGuard
) -> list[str]:
    """Drop each partition whose every row is older than `cutoff` and that `may_drop` allows."""
    dropped = []
    for partition in await partitions(conn, table):
        if partition.ends <= cutoff and await may_drop(conn, partition):
            await conn.execute(text(f"DROP TABLE {partition.name}"))
            dropped.append(partition.name)
    return dropped
