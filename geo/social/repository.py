"""Every query of the social graph. Set-based: one statement however many members."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from geo.core.db import native_sql


@dataclass(frozen=True, slots=True)
class FriendRequestRow:
    id: int
    from_id: int
    to_id: int
    status: str


@dataclass(frozen=True, slots=True)
class CircleRow:
    id: int
    owner_id: int
    name: str
    created_at: datetime
    members: list[int]


OWNED_CIRCLE_IDS_SQL = """
    SELECT id FROM circles WHERE owner_id = :o AND id = ANY(CAST(:ids AS bigint[]))"""


class CircleReads:
    """Circle ownership on a bare asyncpg connection, for the check-in write's transaction
    (`geo.checkins.ingest`: a hot path on a driver connection, not a session)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def owned_ids(self, owner_id: int, circle_ids: list[int]) -> set[int]:
        sql, names = native_sql(OWNED_CIRCLE_IDS_SQL)
        params = {"o": owner_id, "ids": circle_ids}
        return {row[0] for row in await self.conn.fetch(sql, *[params[n] for n in names])}


class SocialRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _all(self, sql: str, **params: object) -> list:  # type: ignore[type-arg]
        return list((await self.session.execute(text(sql), params)).all())

    async def _scalar(self, sql: str, **params: object) -> Any:
        return (await self.session.execute(text(sql), params)).scalar_one_or_none()

    # -- relations between two accounts -------------------------------------------------------
    async def lock_pair(self, a: int, b: int) -> None:
        """Serialise graph changes between two accounts (requests, accepts, blocks race)."""
        low, high = sorted((a, b))
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(:l, :h)"), {"l": low % 2**31, "h": high % 2**31}
        )

    async def account_exists(self, account_id: int) -> bool:
        return bool(await self._scalar("SELECT 1 FROM accounts WHERE id = :id", id=account_id))

    async def blocked_either_way(self, a: int, b: int) -> bool:
        return bool(
            await self._scalar(
                """SELECT 1 FROM blocks WHERE (blocker_id = :a AND blocked_id = :b)
               OR (blocker_id = :b AND blocked_id = :a) LIMIT 1""",
                a=a,
                b=b,
            )
        )

    async def blocks(self, blocker: int, blocked: int) -> bool:
        return bool(
            await self._scalar(
                "SELECT 1 FROM blocks WHERE blocker_id = :a AND blocked_id = :b",
                a=blocker,
                b=blocked,
            )
        )

    async def are_friends(self, a: int, b: int) -> bool:
        return bool(
            await self._scalar("SELECT 1 FROM friendships WHERE a_id = :a AND b_id = :b", a=a, b=b)
        )

    # -- friend requests ----------------------------------------------------------------------
    async def pending_request(self, from_id: int, to_id: int) -> FriendRequestRow | None:
        rows = await self._all(
            """SELECT id, from_id, to_id, status FROM friend_requests
               WHERE from_id = :f AND to_id = :t AND status = 'pending'""",
            f=from_id,
            t=to_id,
        )
        return FriendRequestRow(*rows[0]) if rows else None

    async def insert_request(self, from_id: int, to_id: int, status: str) -> FriendRequestRow:
        rows = await self._all(
            """INSERT INTO friend_requests (from_id, to_id, status) VALUES (:f, :t, :s)
               RETURNING id, from_id, to_id, status""",
            f=from_id,
            t=to_id,
            s=status,
        )
        return FriendRequestRow(*rows[0])

    async def request_by_id(self, request_id: int) -> FriendRequestRow | None:
        rows = await self._all(
            "SELECT id, from_id, to_id, status FROM friend_requests WHERE id = :id", id=request_id
        )
        return FriendRequestRow(*rows[0]) if rows else None

    async def set_request_status(self, request_id: int, status: str) -> None:
        await self.session.execute(
            text("UPDATE friend_requests SET status = :s WHERE id = :id"),
            {"s": status, "id": request_id},
        )

    async def cancel_pending_between(self, a: int, b: int) -> None:
        await self.session.execute(
            text(
                """UPDATE friend_requests SET status = 'cancelled' WHERE status = 'pending'
               AND ((from_id = :a AND to_id = :b) OR (from_id = :b AND to_id = :a))"""
            ),
            {"a": a, "b": b},
        )

    # -- friendships --------------------------------------------------------------------------
    async def add_friendship(self, a: int, b: int) -> None:
        await self.session.execute(
            text(
                """INSERT INTO friendships (a_id, b_id) VALUES (:a, :b), (:b, :a)
               ON CONFLICT DO NOTHING"""
            ),
            {"a": a, "b": b},
        )

    async def remove_friendship(self, a: int, b: int) -> int:
        result = await self.session.execute(
            text(
                """DELETE FROM friendships WHERE (a_id = :a AND b_id = :b)
               OR (a_id = :b AND b_id = :a)"""
            ),
            {"a": a, "b": b},
        )
        return result.rowcount  # type: ignore[attr-defined, no-any-return]

    async def remove_from_each_others_circles(self, a: int, b: int) -> None:
        await self.session.execute(
            text(
                """DELETE FROM circle_members cm USING circles c
               WHERE cm.circle_id = c.id AND ((c.owner_id = :a AND cm.member_id = :b)
                                           OR (c.owner_id = :b AND cm.member_id = :a))"""
            ),
            {"a": a, "b": b},
        )

    async def friends_page(self, account_id: int, *, limit: int, before: int | None) -> list[int]:
        rows = await self._all(
            """SELECT b_id FROM friendships WHERE a_id = :a
               AND (CAST(:before AS bigint) IS NULL OR b_id < :before)
               ORDER BY b_id DESC LIMIT :limit""",
            a=account_id,
            before=before,
            limit=limit,
        )
        return [r[0] for r in rows]

    async def which_are_friends(self, account_id: int, candidates: list[int]) -> set[int]:
        rows = await self._all(
            "SELECT b_id FROM friendships WHERE a_id = :a AND b_id = ANY(CAST(:ids AS bigint[]))",
            a=account_id,
            ids=candidates,
        )
        return {r[0] for r in rows}

    # -- circles ------------------------------------------------------------------------------
    async def count_circles(self, owner_id: int) -> int:
        return int(
            await self._scalar("SELECT count(*) FROM circles WHERE owner_id = :o", o=owner_id)
        )

    async def insert_circle(self, owner_id: int, name: str) -> int:
        return int(
            await self._scalar(
                "INSERT INTO circles (owner_id, name) VALUES (:o, :n) RETURNING id",
                o=owner_id,
                n=name,
            )
        )

    async def rename_circle(self, circle_id: int, name: str) -> None:
        await self.session.execute(
            text("UPDATE circles SET name = :n, updated_at = now() WHERE id = :id"),
            {"n": name, "id": circle_id},
        )

    async def replace_members(self, circle_id: int, members: list[int]) -> None:
        await self.session.execute(
            text("DELETE FROM circle_members WHERE circle_id = :c"), {"c": circle_id}
        )
        if members:
            await self.session.execute(
                text(
                    """INSERT INTO circle_members (circle_id, member_id)
                   SELECT :c, unnest(CAST(:m AS bigint[])) ON CONFLICT DO NOTHING"""
                ),
                {"c": circle_id, "m": members},
            )
        await self.session.execute(
            text("UPDATE circles SET updated_at = now() WHERE id = :c"), {"c": circle_id}
        )

    async def delete_circle(self, circle_id: int) -> None:
        await self.session.execute(text("DELETE FROM circles WHERE id = :c"), {"c": circle_id})

    async def owned_circle(self, owner_id: int, circle_id: int) -> CircleRow | None:
        circles = await self.owned_circles(owner_id, circle_ids=[circle_id])
        return circles[0] if circles else None

    async def owned_circles(
        self,
        owner_id: int,
        *,
        circle_ids: list[int] | None = None,
        limit: int = 100,
        before: int | None = None,
    ) -> list[CircleRow]:
        rows = await self._all(
            """SELECT c.id, c.owner_id, c.name, c.created_at,
                      coalesce(array_agg(cm.member_id ORDER BY cm.member_id)
                               FILTER (WHERE cm.member_id IS NOT NULL), '{}')
               FROM circles c LEFT JOIN circle_members cm ON cm.circle_id = c.id
               WHERE c.owner_id = :o
                 AND (CAST(:ids AS bigint[]) IS NULL OR c.id = ANY(CAST(:ids AS bigint[])))
                 AND (CAST(:before AS bigint) IS NULL OR c.id < :before)
               GROUP BY c.id ORDER BY c.id DESC LIMIT :limit""",
            o=owner_id,
            ids=circle_ids,
            before=before,
            limit=limit,
        )
        return [CircleRow(r[0], r[1], r[2], r[3], list(r[4])) for r in rows]

    # -- follows and blocks -------------------------------------------------------------------
    async def add_follow(self, follower: int, followee: int) -> None:
        await self.session.execute(
            text(
                "INSERT INTO follows (follower_id, followee_id) VALUES (:a, :b) "
                "ON CONFLICT DO NOTHING"
            ),
            {"a": follower, "b": followee},
        )

    async def remove_follows(self, a: int, b: int, *, both_ways: bool) -> int:
        reverse = "OR (follower_id = :b AND followee_id = :a)" if both_ways else ""
        result = await self.session.execute(
            text(f"DELETE FROM follows WHERE (follower_id = :a AND followee_id = :b) {reverse}"),
            {"a": a, "b": b},
        )
        return result.rowcount  # type: ignore[attr-defined, no-any-return]

    async def add_block(self, blocker: int, blocked: int) -> None:
        await self.session.execute(
            text(
                "INSERT INTO blocks (blocker_id, blocked_id) VALUES (:a, :b) ON CONFLICT DO NOTHING"
            ),
            {"a": blocker, "b": blocked},
        )

    async def remove_block(self, blocker: int, blocked: int) -> None:
        await self.session.execute(
            text("DELETE FROM blocks WHERE blocker_id = :a AND blocked_id = :b"),
            {"a": blocker, "b": blocked},
        )

    # -- reads for the fan-out ----------------------------------------------------------------
    async def circle_audience(self, author_id: int, circle_ids: list[int]) -> list[int]:
        """Members of the author's circles who are still friends and not blocked either way."""
        rows = await self._all(
            """SELECT DISTINCT cm.member_id FROM circle_members cm
               JOIN circles c ON c.id = cm.circle_id AND c.owner_id = :a
               JOIN friendships f ON f.a_id = :a AND f.b_id = cm.member_id
               WHERE cm.circle_id = ANY(CAST(:ids AS bigint[]))
                 AND NOT EXISTS (SELECT 1 FROM blocks b WHERE
                     (b.blocker_id = :a AND b.blocked_id = cm.member_id)
                  OR (b.blocker_id = cm.member_id AND b.blocked_id = :a))""",
            a=author_id,
            ids=circle_ids,
        )
        return [r[0] for r in rows]

    async def followers(self, account_id: int) -> list[int]:
        """Followers of an account that neither block it nor are blocked by it."""
        rows = await self._all(
            """SELECT f.follower_id FROM follows f WHERE f.followee_id = :a
               AND NOT EXISTS (SELECT 1 FROM blocks b WHERE
                   (b.blocker_id = :a AND b.blocked_id = f.follower_id)
                OR (b.blocker_id = f.follower_id AND b.blocked_id = :a))""",
            a=account_id,
        )
        return [r[0] for r in rows]

    async def followers_of_many(self, account_ids: list[int]) -> dict[int, list[int]]:
        """`followers` of several accounts at once, by account: one row per account (an array
        decoded by the driver), not one per follower."""
        rows = await self._all(
            """SELECT f.followee_id, array_agg(f.follower_id) FROM follows f
               WHERE f.followee_id = ANY(CAST(:ids AS bigint[]))
               AND NOT EXISTS (SELECT 1 FROM blocks b WHERE
                   (b.blocker_id = f.followee_id AND b.blocked_id = f.follower_id)
                OR (b.blocker_id = f.follower_id AND b.blocked_id = f.followee_id))
               GROUP BY f.followee_id""",
            ids=account_ids,
        )
        return {followee: list(followers) for followee, followers in rows}
