"""Time-ordered 64-bit ids (Twitter snowflake layout), made by PostgreSQL's `geo_next_id()`.

Layout: 41 bits of milliseconds since the Twitter epoch, 10 bits of shard, 12 bits of sequence.
Generating them in the database keeps API processes stateless (no worker-id coordination) and
gives Citus one shard number per node later.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path

from geo.core.errors import NotFound

EPOCH_MS = 1288834974657
MAX_ID = 2**63 - 1

# A path id: decimal digits only; anything else is a 422 naming the field.
IdPath = Annotated[str, Path(pattern=r"^[0-9]{1,19}$", description="A decimal id string.")]


def parse_id(value: str) -> int:
    """Parse an id string from a URL; out-of-range ids cannot exist, so they are 404."""
    number = int(value)
    if number > MAX_ID or number <= 0:
        raise NotFound()
    return number


def id_floor_for(moment: datetime) -> int:
    """The smallest id that could have been made at `moment` (for time-range scans by id)."""
    ms = int(moment.astimezone(UTC).timestamp() * 1000)
    return max(0, ms - EPOCH_MS) << 22
