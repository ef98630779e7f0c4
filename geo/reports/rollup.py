"""The rollup worker: recompute every touched (campaign, hour) from the ledger, idempotently.

Triggers on the ledger tables queue touched hours in `report_dirty`. A pass claims a batch with
`FOR UPDATE SKIP LOCKED` (so several workers share the queue and a writer still in flight keeps
its hour locked until it commits), rebuilds those hours' rollup rows from the ledger and deletes
the queue rows, all in one transaction: a crash anywhere leaves the hour queued for the next pass.
"""

import asyncio
import logging
from datetime import datetime

import h3
from sqlalchemy.ext.asyncio import AsyncSession

from geo.core.db import Database
from geo.reports.repository import RollupRepository

log = logging.getLogger("geo.reports.rollup")
# H3 resolution 9: hexagons of about 0.1 km² (174 m edges), a street block at city scale.
MAP_RESOLUTION = 9


async def recompute_hour(session: AsyncSession, campaign_id: int, hour: datetime) -> None:
    """Rebuild the rollup rows of one (campaign, hour) from the ledger as it is now."""
    repo = RollupRepository(session)
    await repo.recompute_exposures(campaign_id, hour)
    await repo.recompute_holdouts(campaign_id, hour)
    points = await repo.grid_points(campaign_id, hour)
    mapping = [
        (lat, lon, h3.str_to_int(h3.latlng_to_cell(lat, lon, MAP_RESOLUTION)))
        for lat, lon in points
    ]
    await repo.recompute_cells(campaign_id, hour, mapping)


async def rollup_pending(session: AsyncSession, *, limit: int = 100) -> int:
    """One pass over at most `limit` queued hours in the caller's transaction; returns how many."""
    repo = RollupRepository(session)
    claimed = await repo.claim_dirty(limit)
    for campaign_id, hour in claimed:
        await recompute_hour(session, campaign_id, hour)
        await repo.forget_dirty(campaign_id, hour)
    await session.flush()
    return len(claimed)


async def rollup_once(db: Database, *, limit: int = 100) -> int:
    async with db.sessionmaker() as session, session.begin():
        return await rollup_pending(session, limit=limit)


async def run_forever(db: Database, *, poll_s: float = 1.0) -> None:
    """Keep the rollups current: drain the queue, then poll."""
    while True:
        try:
            if not await rollup_once(db):
                await asyncio.sleep(poll_s)
        except Exception:  # keep rolling up; the failed batch stays queued and is retried
            log.exception("rollup pass failed; retrying")
            await asyncio.sleep(1)
