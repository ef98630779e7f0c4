"""The outbox keeps a day's partition `outbox_retention_days` after its end, and only once every
row in it was relayed (an unsent row is work still to do, however old)."""

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from geo.core import partitions
from geo.core.partitions import Partition


async def all_relayed(conn: AsyncConnection, partition: Partition) -> bool:
    unsent = await conn.execute(
        text(f"SELECT 1 FROM {partition.name} WHERE sent_at IS NULL LIMIT 1")
    )
    return unsent.first() is None


async def drop_expired(conn: AsyncConnection, *, now: datetime, keep_days: int) -> list[str]:
    return await partitions.drop_ended_before(
        conn, "outbox", cutoff=now - timedelta(days=keep_days), may_drop=all_relayed
    )
