"""Hourly upkeep of the partitioned tables, run by `geo worker` (and in-process workers):
partitions made ahead for the ledgers and the outbox, expired ones dropped under each domain's
rule, and old exact viewer positions in the ad ledgers reduced to area cells."""

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from geo.ads import retention as ads_retention
from geo.core import partitions
from geo.core.config import Settings
from geo.core.db import Database
from geo.outbox import retention as outbox_retention

log = logging.getLogger("geo.maintenance")
PARTITIONED = (*ads_retention.LEDGERS, "outbox")


@dataclass(slots=True)
class Upkeep:
    """What one pass did: partitions made and dropped (by name), ledger positions coarsened."""

    made: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    coarsened: int = 0

    def __bool__(self) -> bool:
        return bool(self.made or self.dropped or self.coarsened)


async def run_once(db: Database, settings: Settings, *, now: datetime | None = None) -> Upkeep:
    """One pass in one transaction; returns what it did (for logs and tests)."""
    now = now or datetime.now(UTC)
    done = Upkeep()
    async with db.engine.begin() as conn:
        for table in PARTITIONED:
            done.made += await partitions.ensure_days(
                conn, table, today=now.date(), ahead=settings.partitions_ahead_days
            )
        done.dropped += await ads_retention.drop_expired(
            conn, now=now, keep_days=settings.ledger_retention_days
        )
        done.dropped += await outbox_retention.drop_expired(
            conn, now=now, keep_days=settings.outbox_retention_days
        )
        done.coarsened = await ads_retention.coarsen_positions(
            conn, now=now, exact_days=settings.ledger_exact_position_days
        )
    return done


async def run_forever(db: Database, settings: Settings, *, every_s: float = 3600.0) -> None:
    while True:
        try:
            done = await run_once(db, settings)
            if done:
                log.info("maintenance: %s", done)
        except Exception:  # the next pass retries; serving does not depend on it
            log.exception("maintenance pass failed")
        await asyncio.sleep(every_s)
