"""Every query of check-ins, including who may see one (`VISIBLE`, decided here and only here)."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from geo.outbox.repository import insert_for_rows
from geo.places.repository import PLACE_COLUMNS, PlaceRow

POINT = "ST_SetSRID(ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)), 4326)::geography"
PUBLIC_POINT = POINT.replace(":lon", ":plon").replace(":lat", ":plat")  # NULL in, NULL out

# The viewer :v sees check-in c when they wrote it, or, with no block either way, when it is public
# or they are in one of its circles (owned by the author) and still the author's friend.
IN_CIRCLE = """(EXISTS (SELECT 1 FROM circle_members cm JOIN circles ci ON ci.id = cm.circle_id
                        WHERE ci.owner_id = c.author_id AND cm.member_id = :v
                          AND cm.circle_id = ANY(c.circle_ids))
               AND EXISTS (SELECT 1 FROM friendships f
                           WHERE f.a_id = c.author_id AND f.b_id = :v))"""
NOT_BLOCKED = """NOT EXISTS (SELECT 1 FROM blocks b
                 WHERE (b.blocker_id = c.author_id AND b.blocked_id = :v)
                    OR (b.blocker_id = :v AND b.blocked_id = c.author_id))"""
VISIBLE = f"(c.author_id = :v OR ({NOT_BLOCKED} AND (c.public OR {IN_CIRCLE})))"
# What the fan-out delivers to :v's home timeline: their own, their circles', and the public ones
# of accounts they follow. Narrower than VISIBLE (a stranger's public check-in is not "home").
FOLLOWS = """EXISTS (SELECT 1 FROM follows fo
                     WHERE fo.follower_id = :v AND fo.followee_id = c.author_id)"""
HOME = f"(c.author_id = :v OR ({NOT_BLOCKED} AND ({IN_CIRCLE} OR (c.public AND {FOLLOWS}))))"
# :v sees c at `exact` precision: its author, a circle member, or anyone when it is public at the
# venue. Lists keyed by the venue or an exact position keep to these, so a viewer who may know only
# the area or the city never learns the venue from one.
EXACT = f"(c.author_id = :v OR {IN_CIRCLE} OR (c.public AND c.public_precision = 'exact'))"
COLUMNS = f"""c.id, c.author_id, c.place_id, c.message, c.circle_ids, c.public,
    c.public_precision, c.created_at, c.author_id = :v OR {IN_CIRCLE} AS via_circle"""


def _public_near(column: str) -> str:
    """The local public stream over one resolution's cells: per covering cell, the newest rows
    whose public position is in the disc (an index range on (cell, id)), merged by id."""
    return f"""
    SELECT {COLUMNS} FROM unnest(CAST(:cells AS bigint[])) AS k(cell)
    CROSS JOIN LATERAL (
        SELECT * FROM checkins c
        WHERE c.{column} = k.cell AND c.{column} IS NOT NULL  -- (the partial index's predicate)
          AND c.id < COALESCE(CAST(:before AS bigint), 9223372036854775807)
          AND ST_DWithin(c.public_position, {POINT}, :r, false) AND {VISIBLE}
        ORDER BY c.id DESC LIMIT :limit) c
    ORDER BY c.id DESC LIMIT :limit"""


PUBLIC_NEAR = {7: _public_near("public_cell7"), 5: _public_near("public_cell5")}


@dataclass(frozen=True, slots=True)
class CheckinRow:
    id: int
    author_id: int
    place_id: int
    message: str | None
    circle_ids: list[int]
    public: bool
    public_precision: str
    created_at: datetime
    via_circle: bool  # the viewer sees the circle view (exact), not the public one


@dataclass(frozen=True, slots=True)
class DeliveryFacts:
    """What the fan-out needs to know of a check-in to deliver or retract it."""

    author_id: int
    circle_ids: list[int]
    public: bool


@dataclass(frozen=True, slots=True)
class LastPosition:
    lat: float
    lon: float
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PlausibilityFacts:
    place: PlaceRow | None  # None: no such place; else with its distance_m from the claim
    last: LastPosition | None  # None: the author's first check-in


# The place (with its distance from the claimed position) and the author's last position.
PLAUSIBILITY_SQL = f"""
    SELECT {PLACE_COLUMNS}, ST_Distance(p.position, {POINT}) AS distance_m,
           l.lat, l.lon, l.created_at
    FROM (SELECT 1) one
    LEFT JOIN places p ON p.id = :p
    LEFT JOIN LATERAL (
        SELECT ST_Y(position::geometry) AS lat, ST_X(position::geometry) AS lon, created_at
        FROM checkins WHERE author_id = :a ORDER BY id DESC LIMIT 1) l ON true"""

# The check-in and its fan-out event (the outbox row, shaped by geo.outbox) in one statement.
INSERT_WITH_EVENT_SQL = f"""
    WITH made AS (
        INSERT INTO checkins (author_id, place_id, position, accuracy_m, message,
                              circle_ids, public, public_precision, public_position,
                              public_cell7, public_cell5)
        VALUES (:a, :p, {POINT}, :acc, :m, CAST(:circles AS bigint[]), :pub, :prec,
                {PUBLIC_POINT}, CAST(:c7 AS bigint), CAST(:c5 AS bigint))
        RETURNING id, created_at),
    event AS ({insert_for_rows("made", ":topic", "checkin_id")})
    SELECT id, created_at FROM made"""

# The Idempotency-Key store: check-ins', and other retried writes of a person's (presence.py).
# The answer is read and written as text, so a session and a bare asyncpg connection (which have
# different jsonb codecs) read and write it alike.
CLAIM_KEY_SQL = """
    INSERT INTO idempotency_keys (account_id, key, request_hash) VALUES (:a, :k, :h)
    ON CONFLICT DO NOTHING"""
STORED_ANSWER_SQL = """
    SELECT request_hash, status, CAST(response AS text) FROM idempotency_keys
    WHERE account_id = :a AND key = :k AND created_at > now() - interval '24 hours'"""
RELEASE_STALE_KEY_SQL = """
    DELETE FROM idempotency_keys WHERE account_id = :a AND key = :k
    AND created_at <= now() - interval '24 hours'"""
STORE_ANSWER_SQL = """
    UPDATE idempotency_keys SET status = :s, response = CAST(CAST(:r AS text) AS jsonb)
    WHERE account_id = :a AND key = :k"""
# The rate rule's fallback while Redis is down (geo.checkins.service.check_rate).
AUTHOR_LOCK_SQL = "SELECT pg_advisory_xact_lock(7306, hashtext(:a))"
COUNT_RECENT_SQL = "SELECT count(*) FROM checkins WHERE author_id = :a AND id >= :since"


def stored_answer_of(row: Any) -> tuple[bytes, int | None, dict | None] | None:  # type: ignore[type-arg]
    """A `STORED_ANSWER_SQL` row as (request hash, status, answer): the answer's JSON parsed."""
    if row is None:
        return None
    return bytes(row[0]), row[1], json.loads(row[2]) if row[2] is not None else None


class CheckinRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim_idempotency_key(
        self, *, account_id: int, key: str, request_hash: bytes
    ) -> bool:
        """True when this request owns the key; a concurrent twin waits here until we commit."""
        result = await self.session.execute(
            text(CLAIM_KEY_SQL), {"a": account_id, "k": key, "h": request_hash}
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def stored_answer(
        self, *, account_id: int, key: str
    ) -> tuple[bytes, int | None, dict | None] | None:  # type: ignore[type-arg]
        found = await self.session.execute(text(STORED_ANSWER_SQL), {"a": account_id, "k": key})
        row = found.first()
        return stored_answer_of(row)

    async def release_stale_key(self, *, account_id: int, key: str) -> None:
        await self.session.execute(text(RELEASE_STALE_KEY_SQL), {"a": account_id, "k": key})

    async def store_answer(self, *, account_id: int, key: str, status: int, body: dict) -> None:  # type: ignore[type-arg]
        await self.session.execute(
            text(STORE_ANSWER_SQL), {"s": status, "r": json.dumps(body), "a": account_id, "k": key}
        )

    async def count_recent(self, *, author_id: int, since_id: int) -> int:
        """The author's check-ins with ids from `since_id` on (ids grow with the clock).

        Takes a per-author lock for the rest of the transaction first, so that concurrent check-ins
        of one author count each other instead of all seeing the same number (the Redis counter
        is atomic; this fallback must be too)."""
        await self.session.execute(text(AUTHOR_LOCK_SQL), {"a": str(author_id)})
        found = await self.session.execute(
            text(COUNT_RECENT_SQL), {"a": author_id, "since": since_id}
        )
        return int(found.scalar_one())

    async def visible(self, *, viewer_id: int, checkin_id: int) -> CheckinRow | None:
        row = (
            await self.session.execute(
                text(f"""
            SELECT {COLUMNS} FROM checkins c WHERE c.id = :id AND {VISIBLE}"""),
                {"v": viewer_id, "id": checkin_id},
            )
        ).first()
        return CheckinRow(*row) if row else None

    async def visible_page(
        self,
        *,
        viewer_id: int,
        author_id: int | None = None,
        place_id: int | None = None,
        limit: int,
        before: int | None,
    ) -> list[CheckinRow]:
        # A list keyed by the venue shows only what this viewer sees at the venue's precision.
        where = (
            "c.author_id = :author" if author_id is not None else f"c.place_id = :place AND {EXACT}"
        )
        rows = (
            await self.session.execute(
                text(f"""
            SELECT {COLUMNS} FROM checkins c
            WHERE {where} AND (CAST(:before AS bigint) IS NULL OR c.id < :before) AND {VISIBLE}
            ORDER BY c.id DESC LIMIT :limit"""),
                {
                    "v": viewer_id,
                    "author": author_id,
                    "place": place_id,
                    "before": before,
                    "limit": limit,
                },
            )
        ).all()
        return [CheckinRow(*r) for r in rows]

    async def public_near(
        self,
        *,
        viewer_id: int,
        lat: float,
        lon: float,
        radius_m: float,
        resolution: int,
        cells: list[int],
        limit: int,
        before: int | None,
    ) -> list[CheckinRow]:
        """The local public stream: public check-ins whose *public* position (venue for `exact`,
        cell centre for `area`/`city`) lies within radius_m of the point, newest first; `cells`
        (at `resolution`) must cover the disc.

        Hot path (bench/local_stream.py): one short index range per cell, whatever the region
        holds. Distances on the sphere (the same mean radius as `geo.core.geodesy.haversine_m`), not
        the spheroid: clients can reproduce them."""
        rows = (
            await self.session.execute(
                text(PUBLIC_NEAR[resolution]),
                {
                    "v": viewer_id,
                    "lat": lat,
                    "lon": lon,
                    "r": radius_m,
                    "cells": cells,
                    "before": before,
                    "limit": limit,
                },
            )
        ).all()
        return [CheckinRow(*r) for r in rows]

    async def delete_own(self, *, author_id: int, checkin_id: int) -> "DeliveryFacts | None":
        row = (
            await self.session.execute(
                text("""
            DELETE FROM checkins WHERE id = :id AND author_id = :a
            RETURNING author_id, circle_ids, public"""),
                {"id": checkin_id, "a": author_id},
            )
        ).first()
        return DeliveryFacts(row[0], list(row[1]), row[2]) if row else None

    async def delivery_facts_many(self, ids: list[int]) -> dict[int, "DeliveryFacts"]:
        rows = (
            await self.session.execute(
                text(
                    "SELECT id, author_id, circle_ids, public FROM checkins "
                    "WHERE id = ANY(CAST(:ids AS bigint[]))"
                ),
                {"ids": ids},
            )
        ).all()
        return {r[0]: DeliveryFacts(r[1], list(r[2]), r[3]) for r in rows}

    async def ids_after(self, after: int, limit: int) -> list[int]:
        rows = (
            await self.session.execute(
                text("SELECT id FROM checkins WHERE id > :after ORDER BY id LIMIT :n"),
                {"after": after, "n": limit},
            )
        ).all()
        return [r[0] for r in rows]

    async def home_ids(self, *, viewer_id: int, limit: int) -> list[int]:
        """The newest check-ins :v receives under today's graph (`HOME`), newest first: what a
        home timeline regenerated from PostgreSQL holds. Only the viewer's own and those of
        accounts they are friends with or follow can qualify, so those are the ones scanned."""
        rows = (
            await self.session.execute(
                text(f"""
            SELECT c.id FROM checkins c
            WHERE c.author_id IN (SELECT CAST(:v AS bigint)
                                  UNION SELECT b_id FROM friendships WHERE a_id = :v
                                  UNION SELECT followee_id FROM follows WHERE follower_id = :v)
              AND {HOME}
            ORDER BY c.id DESC LIMIT :n"""),
                {"v": viewer_id, "n": limit},
            )
        ).all()
        return [r[0] for r in rows]

    async def public_ids(self, limit: int) -> list[int]:
        """The newest public check-ins (the global public stream, rebuilt)."""
        rows = (
            await self.session.execute(
                text("SELECT id FROM checkins WHERE public ORDER BY id DESC LIMIT :n"),
                {"n": limit},
            )
        ).all()
        return [r[0] for r in rows]

    async def recent_authors(self, *, since_id: int, limit: int) -> list[int]:
        """Accounts that checked in from id `since_id` on, the most recent first."""
        rows = (
            await self.session.execute(
                text("""
            SELECT author_id FROM checkins WHERE id >= :since
            GROUP BY author_id ORDER BY max(id) DESC LIMIT :n"""),
                {"since": since_id, "n": limit},
            )
        ).all()
        return [r[0] for r in rows]

    async def visible_by_ids(self, *, viewer_id: int, ids: list[int]) -> list[CheckinRow]:
        rows = (
            await self.session.execute(
                text(f"""
            SELECT {COLUMNS} FROM checkins c
            WHERE c.id = ANY(CAST(:ids AS bigint[])) AND {VISIBLE}
            ORDER BY c.id DESC"""),
                {"v": viewer_id, "ids": ids},
            )
        ).all()
        return [CheckinRow(*r) for r in rows]

    async def not_for_home(self, *, viewer_id: int, author_id: int, ids: list[int]) -> list[int]:
        """Of these home timeline ids: those gone, and the author's that :v no longer receives."""
        rows = (
            await self.session.execute(
                text(f"""
            SELECT i.id FROM unnest(CAST(:ids AS bigint[])) AS i(id)
            LEFT JOIN checkins c ON c.id = i.id
            WHERE c.id IS NULL OR (c.author_id = :author AND NOT {HOME})"""),
                {"v": viewer_id, "author": author_id, "ids": ids},
            )
        ).all()
        return [r[0] for r in rows]
