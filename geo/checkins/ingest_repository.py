"""The statements of creating a check-in, on the request's asyncpg connection (the hot write).

`POST /v1/checkins` runs in one transaction on a bare asyncpg connection
(`geo.core.db.write_transaction`): prepared statements, no SQLAlchemy session or execution path,
which cost the endpoint about a third of its CPU (docs/benchmarks.md, issue 13; bench/hot_paths.py
keeps it honest). The SQL texts are `geo.checkins.repository`'s, shared with the session-based
`CheckinRepository` that other writers (safety reports) use for the same store and rule.
"""

from datetime import datetime

import asyncpg

from geo.checkins.repository import (
    AUTHOR_LOCK_SQL,
    CLAIM_KEY_SQL,
    COUNT_RECENT_SQL,
    INSERT_WITH_EVENT_SQL,
    PLAUSIBILITY_SQL,
    RELEASE_STALE_KEY_SQL,
    STORE_ANSWER_SQL,
    STORED_ANSWER_SQL,
    LastPosition,
    PlausibilityFacts,
    stored_answer_of,
)
from geo.core.db import native_sql
from geo.places.repository import PlaceRow

PLAUSIBILITY, PLAUSIBILITY_NAMES = native_sql(PLAUSIBILITY_SQL)
INSERT, INSERT_NAMES = native_sql(INSERT_WITH_EVENT_SQL)
CLAIM_KEY = native_sql(CLAIM_KEY_SQL)
STORED_ANSWER = native_sql(STORED_ANSWER_SQL)
RELEASE_STALE_KEY = native_sql(RELEASE_STALE_KEY_SQL)
STORE_ANSWER = native_sql(STORE_ANSWER_SQL)
AUTHOR_LOCK = native_sql(AUTHOR_LOCK_SQL)
COUNT_RECENT = native_sql(COUNT_RECENT_SQL)


def _args(statement: tuple[str, tuple[str, ...]], **params: object) -> list[object]:
    """A statement's `$n` arguments, in the order `native_sql` numbered its names."""
    return [statement[0], *[params[name] for name in statement[1]]]


class CheckinWrites:
    """A check-in's statements on one connection, in the caller's transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def claim_idempotency_key(
        self, *, account_id: int, key: str, request_hash: bytes
    ) -> bool:
        """True when this request owns the key; a concurrent twin waits here until we commit."""
        status = await self.conn.execute(*_args(CLAIM_KEY, a=account_id, k=key, h=request_hash))
        return status == "INSERT 0 1"  # type: ignore[no-any-return]

    async def stored_answer(
        self, *, account_id: int, key: str
    ) -> tuple[bytes, int | None, dict | None] | None:  # type: ignore[type-arg]
        row = await self.conn.fetchrow(*_args(STORED_ANSWER, a=account_id, k=key))
        return stored_answer_of(row)

    async def release_stale_key(self, *, account_id: int, key: str) -> None:
        await self.conn.execute(*_args(RELEASE_STALE_KEY, a=account_id, k=key))

    async def store_answer(self, *, account_id: int, key: str, status: int, body: str) -> None:
        """Keep the first answer (its JSON text) for the key's retries."""
        await self.conn.execute(*_args(STORE_ANSWER, s=status, r=body, a=account_id, k=key))

    async def plausibility_facts(
        self, *, author_id: int, place_id: int, lat: float, lon: float
    ) -> PlausibilityFacts:
        """The place with its distance (None: no such place) and the author's last position, in
        one round trip."""
        params = {"p": place_id, "lat": lat, "lon": lon, "a": author_id}
        row = await self.conn.fetchrow(PLAUSIBILITY, *[params[n] for n in PLAUSIBILITY_NAMES])
        place = PlaceRow(*row[:8]) if row[0] is not None else None
        last = LastPosition(row[8], row[9], row[10]) if row[10] is not None else None
        return PlausibilityFacts(place, last)

    async def count_recent(self, *, author_id: int, since_id: int) -> int:
        """`CheckinRepository.count_recent`: the author's check-ins from `since_id` on, under the
        per-author lock that makes concurrent fallbacks count each other."""
        await self.conn.execute(*_args(AUTHOR_LOCK, a=str(author_id)))
        return int(await self.conn.fetchval(*_args(COUNT_RECENT, a=author_id, since=since_id)))

    async def insert_with_event(
        self,
        *,
        author_id: int,
        place_id: int,
        lat: float,
        lon: float,
        accuracy_m: float,
        message: str | None,
        circle_ids: list[int],
        public: bool,
        public_precision: str,
        public_point: tuple[float, float] | None,
        public_cells: tuple[int, int] | None,
        topic: str,
    ) -> tuple[int, datetime]:
        """Insert the check-in and its outbox event in one statement; returns id and created_at.
        `public_point` (lat, lon): where the public stream may place it (None: not public);
        `public_cells`: its H3 cells at resolutions 7 and 5."""
        params = {
            "a": author_id,
            "p": place_id,
            "lat": lat,
            "lon": lon,
            "acc": accuracy_m,
            "m": message,
            "circles": circle_ids,
            "pub": public,
            "prec": public_precision,
            "plat": public_point[0] if public_point else None,
            "plon": public_point[1] if public_point else None,
            "c7": public_cells[0] if public_cells else None,
            "c5": public_cells[1] if public_cells else None,
            "topic": topic,
        }
        row = await self.conn.fetchrow(INSERT, *[params[n] for n in INSERT_NAMES])
        return row[0], row[1]
