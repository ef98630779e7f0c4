"""SQL for erasing an account's place in both graphs and exporting it."""

from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Every graph row that names the account, in either role. Foreign keys would cascade these too;
# deleting them here keeps the erasure explicit and independent of the DDL.
_GRAPH_DELETES = (
    "DELETE FROM friend_requests WHERE from_id = :a OR to_id = :a",
    "DELETE FROM friendships WHERE a_id = :a OR b_id = :a",
    "DELETE FROM circle_members WHERE member_id = :a",
    "DELETE FROM circles WHERE owner_id = :a",
    "DELETE FROM follows WHERE follower_id = :a OR followee_id = :a",
    "DELETE FROM blocks WHERE blocker_id = :a OR blocked_id = :a",
)


class Person(NamedTuple):
    id: int
    handle: str


class OwnCircle(NamedTuple):
    id: int
    name: str
    members: list[int]


class SocialErasureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _ids(self, sql: str, account_id: int) -> list[int]:
        return [r[0] for r in await self.session.execute(text(sql), {"a": account_id})]

    async def audience_of(self, account_id: int) -> list[int]:
        """Everyone who may hold the account's check-ins: friends (circle members are friends)
        and followers."""
        return await self._ids(
            """SELECT b_id FROM friendships WHERE a_id = :a
               UNION SELECT follower_id FROM follows WHERE followee_id = :a
               UNION SELECT cm.member_id FROM circle_members cm
                     JOIN circles c ON c.id = cm.circle_id WHERE c.owner_id = :a""",
            account_id,
        )

    async def delete_graph(self, account_id: int) -> None:
        for sql in _GRAPH_DELETES:
            await self.session.execute(text(sql), {"a": account_id})

    async def people(self, sql: str, account_id: int) -> list[Person]:
        rows = await self.session.execute(
            text(f"SELECT x.id, x.handle FROM accounts x WHERE x.id IN ({sql}) ORDER BY x.id"),
            {"a": account_id},
        )
        return [Person(*r) for r in rows]

    async def circles(self, account_id: int) -> list[OwnCircle]:
        rows = await self.session.execute(
            text("""
            SELECT c.id, c.name,
                   coalesce(array_agg(cm.member_id ORDER BY cm.member_id)
                            FILTER (WHERE cm.member_id IS NOT NULL), '{}')
            FROM circles c LEFT JOIN circle_members cm ON cm.circle_id = c.id
            WHERE c.owner_id = :a GROUP BY c.id ORDER BY c.id"""),
            {"a": account_id},
        )
        return [OwnCircle(r[0], r[1], list(r[2])) for r in rows]


FRIENDS = "SELECT b_id FROM friendships WHERE a_id = :a"
FOLLOWING = "SELECT followee_id FROM follows WHERE follower_id = :a"
FOLLOWERS = "SELECT follower_id FROM follows WHERE followee_id = :a"
BLOCKED = "SELECT blocked_id FROM blocks WHERE blocker_id = :a"
