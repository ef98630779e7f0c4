"""The outbox table: rows added by the writers' transactions, claimed and marked by the relay."""

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for_rows(cte: str, topic: str, id_key: str) -> str:
    """The outbox insert for the rows made by a CTE (column `id`), for a repository that writes
    its row and the fan-out event in one statement: the outbox's shape stays defined here.
    `topic` is SQL (a bind parameter such as `:topic`, or a quoted literal); `id_key` the
    payload's key for the id."""
    return f"""INSERT INTO outbox (topic, payload)
        SELECT {topic}, jsonb_build_object('{id_key}', id::text) FROM {cte}"""


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim_unsent(self, limit: int) -> list[tuple[int, str, str]]:
        """(id, topic, payload as JSON text) of the oldest unsent rows. The text as PostgreSQL
        prints it: the relay passes it on, so it is never decoded and encoded again."""
        # SKIP LOCKED lets several relays run; each row is taken by one of them at a time.
        rows = (
            await self.session.execute(
                text("""
            SELECT id, topic, payload::text FROM outbox WHERE sent_at IS NULL
            ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"""),
                {"n": limit},
            )
        ).all()
        return [(r[0], r[1], r[2]) for r in rows]

    async def claim_unsent_priority(
        self, topics: tuple[str, ...], limit: int
    ) -> list[tuple[int, str, str]]:
        """The priority lane's unsent rows (partial index `ix_outbox_unsent_priority`), as
        `claim_unsent`'s."""
        rows = (
            await self.session.execute(
                text("""
            SELECT id, topic, payload::text FROM outbox
            WHERE sent_at IS NULL AND topic = ANY(CAST(:topics AS text[]))
            ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"""),
                {"n": limit, "topics": list(topics)},
            )
        ).all()
        return [(r[0], r[1], r[2]) for r in rows]

    async def mark_sent(self, ids: list[int]) -> None:
        await self.session.execute(
            text("UPDATE outbox SET sent_at = now() WHERE id = ANY(CAST(:ids AS bigint[]))"),
            {"ids": ids},
        )

    async def resend_sent_since(self, since: datetime) -> int:
        """Mark rows relayed from `since` on as unsent again (their stream entries were lost with
        Redis's data, consumed or not): the relay sends them again; every topic's handler is
        idempotent. Returns how many."""
        result = await self.session.execute(
            text("UPDATE outbox SET sent_at = NULL WHERE sent_at >= :since"), {"since": since}
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def backlog(self) -> int:
        return int(
            (
                await self.session.execute(
                    text("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                )
            ).scalar_one()
        )

    async def add(self, topic: str, payload: dict[str, Any]) -> None:
        await self.session.execute(
            text("INSERT INTO outbox (topic, payload) VALUES (:t, CAST(:p AS jsonb))"),
            {"t": topic, "p": json.dumps(payload)},
        )
