"""How long the ad ledgers keep what: exact viewer positions for `ledger_exact_position_days`
(then the H3 area cell's centre, the precision a public `area` check-in has), rows for
`ledger_retention_days` and only once the report rollups of their hours are final.

Each ledger is partitioned by day (geo/core/partitions.py); a partition whose positions were
coarsened carries a table comment saying so, so the work is done once per day.
"""

from datetime import datetime, timedelta

import h3
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.checkins.service import AREA_RESOLUTION
from geo.core import partitions
from geo.core.partitions import Partition

LEDGERS = ("ad_impressions", "ad_holdouts", "ad_clicks")
WITH_POSITIONS = ("ad_impressions", "ad_holdouts")
COARSE_MARK = "positions: H3 area cells"
BATCH = 20_000


async def rollups_final(conn: AsyncConnection, partition: Partition) -> bool:
    """No hour up to the partition's end still waits for the rollup (report_dirty)."""
    pending = await conn.execute(
        text("SELECT 1 FROM report_dirty WHERE hour < :end LIMIT 1"), {"end": partition.ends}
    )
    return pending.first() is None


async def drop_expired(conn: AsyncConnection, *, now: datetime, keep_days: int) -> list[str]:
    cutoff = now - timedelta(days=keep_days)
    dropped = []
    for table in LEDGERS:
        dropped += await partitions.drop_ended_before(
            conn, table, cutoff=cutoff, may_drop=rollups_final
        )
    return dropped


async def coarsen_positions(conn: AsyncConnection, *, now: datetime, exact_days: int) -> int:
    """Reduce exact viewer positions older than `exact_days` to area-cell centres; returns rows."""
    cutoff = now - timedelta(days=exact_days)
    changed = 0
    for table in WITH_POSITIONS:
        for partition in await partitions.partitions(conn, table):
            if partition.ends <= cutoff and not await _is_coarse(conn, partition.name):
                changed += await _coarsen(conn, partition.name)
                await conn.execute(text(f"COMMENT ON TABLE {partition.name} IS '{COARSE_MARK}'"))
    return changed


async def _is_coarse(conn: AsyncConnection, name: str) -> bool:
    comment = await conn.execute(
        text("SELECT obj_description(CAST(:n AS regclass), 'pg_class')"), {"n": name}
    )
    return comment.scalar_one() == COARSE_MARK


async def _coarsen(conn: AsyncConnection, name: str) -> int:
    after, changed = -1, 0
    while True:
        rows = (
            await conn.execute(
                text(f"""SELECT id, ST_Y(position::geometry), ST_X(position::geometry)
                         FROM {name} WHERE id > :after ORDER BY id LIMIT :n"""),
                {"after": after, "n": BATCH},
            )
        ).all()
        if not rows:
            return changed
        centres = [
            h3.cell_to_latlng(h3.latlng_to_cell(lat, lon, AREA_RESOLUTION)) for _, lat, lon in rows
        ]
        await conn.execute(
            text(f"""UPDATE {name} AS l
                     SET position = ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326)::geography
                     FROM unnest(CAST(:ids AS bigint[]), CAST(:lats AS float8[]),
                                 CAST(:lons AS float8[])) AS u(id, lat, lon)
                     WHERE l.id = u.id"""),
            {
                "ids": [r[0] for r in rows],
                "lats": [c[0] for c in centres],
                "lons": [c[1] for c in centres],
            },
        )
        changed += len(rows)
        after = rows[-1][0]
