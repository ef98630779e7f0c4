"""Every query of safety reports, including who may see one (`VISIBLE`, decided here only).

A report's audience: its author; with no block either way, all of the author's friends
(`circle_ids IS NULL`, the default) or the friends in the given circles; and everyone if public.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from geo.outbox.events import SAFETY_CREATED
from geo.outbox.repository import insert_for_rows

POINT = "ST_SetSRID(ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)), 4326)::geography"
PUBLIC_POINT = POINT.replace(":lon", ":plon").replace(":lat", ":plat")
FRIEND = "EXISTS (SELECT 1 FROM friendships f WHERE f.a_id = r.author_id AND f.b_id = :v)"
IN_CIRCLE = """EXISTS (SELECT 1 FROM circle_members cm JOIN circles ci ON ci.id = cm.circle_id
                       WHERE ci.owner_id = r.author_id AND cm.member_id = :v
                         AND cm.circle_id = ANY(r.circle_ids))"""
PRIVATE = f"({FRIEND} AND (r.circle_ids IS NULL OR {IN_CIRCLE}))"
NOT_BLOCKED = """NOT EXISTS (SELECT 1 FROM blocks b
                 WHERE (b.blocker_id = r.author_id AND b.blocked_id = :v)
                    OR (b.blocker_id = :v AND b.blocked_id = r.author_id))"""
VISIBLE = f"(r.author_id = :v OR ({NOT_BLOCKED} AND (r.public OR {PRIVATE})))"
FOLLOWS = """EXISTS (SELECT 1 FROM follows fo
                     WHERE fo.follower_id = :v AND fo.followee_id = r.author_id)"""
HOME = f"(r.author_id = :v OR ({NOT_BLOCKED} AND ({PRIVATE} OR (r.public AND {FOLLOWS}))))"
COLUMNS = f"""r.id, r.emergency_id, r.author_id, r.status, r.message,
    ST_Y(r.position::geometry), ST_X(r.position::geometry), r.created_at,
    r.author_id = :v OR {PRIVATE} AS via_circle"""


def _public_near(column: str) -> str:
    """Per covering cell, the newest public reports whose public position is in the disc (an
    index range on (cell, id)), merged by id."""
    return f"""
    SELECT {COLUMNS} FROM unnest(CAST(:cells AS bigint[])) AS k(cell)
    CROSS JOIN LATERAL (
        SELECT * FROM safety_reports r
        WHERE r.{column} = k.cell AND r.{column} IS NOT NULL  -- (the partial index's predicate)
          AND r.id < COALESCE(CAST(:before AS bigint), 9223372036854775807)
          AND ST_DWithin(r.public_position, {POINT}, :r, false) AND {VISIBLE}
        ORDER BY r.id DESC LIMIT :limit) r
    ORDER BY r.id DESC LIMIT :limit"""


PUBLIC_NEAR = {7: _public_near("public_cell7"), 5: _public_near("public_cell5")}


@dataclass(frozen=True, slots=True)
class ReportRow:
    id: int
    emergency_id: int
    author_id: int
    status: str
    message: str | None
    lat: float | None
    lon: float | None
    created_at: datetime
    via_circle: bool  # the viewer is in the private audience (exact position), not the public


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """What the fan-out needs of a report to deliver it."""

    author_id: int
    circle_ids: list[int] | None  # None: all friends
    public: bool


class SafetyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_with_event(
        self,
        *,
        emergency_id: int,
        author_id: int,
        status: str,
        message: str | None,
        position: tuple[float, float, float] | None,
        circle_ids: list[int] | None,
        public: bool,
        public_place: tuple[float, float, int, int] | None,
    ) -> tuple[int, datetime]:
        """The report and its priority-lane outbox event, in one statement. `public_place`: the
        position the public may know (lat, lon of the area cell's centre) and its cells at
        resolutions 7 and 5, for the local public stream; None when not public or no position."""
        lat, lon, accuracy = position if position else (None, None, None)
        plat, plon, c7, c5 = public_place if public_place else (None, None, None, None)
        row = (
            await self.session.execute(
                text(f"""
            WITH made AS (
                INSERT INTO safety_reports (emergency_id, author_id, status, message, position,
                                            accuracy_m, circle_ids, public, public_position,
                                            public_cell7, public_cell5)
                VALUES (:e, :a, :s, :m, CASE WHEN CAST(:lat AS float8) IS NULL THEN NULL
                                             ELSE {POINT} END,
                        :acc, CAST(:circles AS bigint[]), :pub,
                        CASE WHEN CAST(:plat AS float8) IS NULL THEN NULL ELSE {PUBLIC_POINT} END,
                        :c7, :c5)
                RETURNING id, created_at),
            event AS ({insert_for_rows("made", f"'{SAFETY_CREATED}'", "report_id")})
            SELECT id, created_at FROM made"""),
                {
                    "e": emergency_id,
                    "a": author_id,
                    "s": status,
                    "m": message,
                    "lat": lat,
                    "lon": lon,
                    "acc": accuracy,
                    "circles": circle_ids,
                    "pub": public,
                    "plat": plat,
                    "plon": plon,
                    "c7": c7,
                    "c5": c5,
                },
            )
        ).one()
        return row[0], row[1]

    async def visible_by_ids(self, *, viewer_id: int, ids: list[int]) -> list[ReportRow]:
        rows = (
            await self.session.execute(
                text(f"""
            SELECT {COLUMNS} FROM safety_reports r
            WHERE r.id = ANY(CAST(:ids AS bigint[])) AND {VISIBLE} ORDER BY r.id DESC"""),
                {"v": viewer_id, "ids": ids},
            )
        ).all()
        return [ReportRow(*r) for r in rows]

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
    ) -> list[ReportRow]:
        """The local public stream's safety reports: public ones whose public position (their
        area cell's centre) lies within radius_m of the point, newest first; `cells` (at
        `resolution`) cover the disc. The same plan as the check-ins' `public_near`."""
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
        return [ReportRow(*r) for r in rows]

    async def latest_of_friends(self, *, emergency_id: int, viewer_id: int) -> list[ReportRow]:
        """Each friend's latest report in this emergency that the viewer may see."""
        rows = (
            await self.session.execute(
                text(f"""
            SELECT DISTINCT ON (r.author_id) {COLUMNS}
            FROM friendships fr JOIN safety_reports r
              ON r.emergency_id = :e AND r.author_id = fr.b_id
            WHERE fr.a_id = :v AND {VISIBLE}
            ORDER BY r.author_id, r.id DESC"""),
                {"v": viewer_id, "e": emergency_id},
            )
        ).all()
        return [ReportRow(*r) for r in rows]

    async def facts_many(self, ids: list[int]) -> dict[int, ReportFacts]:
        rows = (
            await self.session.execute(
                text("""
            SELECT id, author_id, circle_ids, public FROM safety_reports
            WHERE id = ANY(CAST(:ids AS bigint[]))"""),
                {"ids": ids},
            )
        ).all()
        return {
            r[0]: ReportFacts(r[1], list(r[2]) if r[2] is not None else None, r[3]) for r in rows
        }

    async def home_ids(self, *, viewer_id: int, limit: int) -> list[int]:
        """The newest reports :v receives under today's graph (`HOME`), newest first."""
        rows = (
            await self.session.execute(
                text(f"""
            SELECT r.id FROM safety_reports r
            WHERE r.author_id IN (SELECT CAST(:v AS bigint)
                                  UNION SELECT b_id FROM friendships WHERE a_id = :v
                                  UNION SELECT followee_id FROM follows WHERE follower_id = :v)
              AND {HOME}
            ORDER BY r.id DESC LIMIT :n"""),
                {"v": viewer_id, "n": limit},
            )
        ).all()
        return [r[0] for r in rows]

    async def public_ids(self, limit: int) -> list[int]:
        rows = (
            await self.session.execute(
                text("SELECT id FROM safety_reports WHERE public ORDER BY id DESC LIMIT :n"),
                {"n": limit},
            )
        ).all()
        return [r[0] for r in rows]

    async def ids_after(self, after: int, limit: int) -> list[int]:
        rows = (
            await self.session.execute(
                text("SELECT id FROM safety_reports WHERE id > :after ORDER BY id LIMIT :n"),
                {"after": after, "n": limit},
            )
        ).all()
        return [r[0] for r in rows]

    async def which_exist(self, ids: list[int]) -> set[int]:
        rows = (
            await self.session.execute(
                text("SELECT id FROM safety_reports WHERE id = ANY(CAST(:ids AS bigint[]))"),
                {"ids": ids},
            )
        ).all()
        return {r[0] for r in rows}

    async def not_for_home(self, *, viewer_id: int, author_id: int, ids: list[int]) -> list[int]:
        """Of these safety report ids: the author's that :v no longer receives."""
        rows = (
            await self.session.execute(
                text(f"""
            SELECT r.id FROM safety_reports r
            WHERE r.id = ANY(CAST(:ids AS bigint[])) AND r.author_id = :author AND NOT {HOME}"""),
                {"v": viewer_id, "author": author_id, "ids": ids},
            )
        ).all()
        return [r[0] for r in rows]

    async def status_counts(self, emergency_id: int) -> dict[str, int]:
        """People by their latest status in this emergency (for aggregate, k-floored views)."""
        rows = (
            await self.session.execute(
                text("""
            SELECT status, count(*) FROM (
                SELECT DISTINCT ON (author_id) status FROM safety_reports
                WHERE emergency_id = :e ORDER BY author_id, id DESC) latest
            GROUP BY status"""),
                {"e": emergency_id},
            )
        ).all()
        return {r[0]: int(r[1]) for r in rows}
