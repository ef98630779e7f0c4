"""SQL for erasing an author's check-ins and exporting them (spatial reads live here)."""

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from geo.checkins.repository import DeliveryFacts


class CheckinErasureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def delete_all_of(self, author_id: int) -> list[tuple[int, DeliveryFacts]]:
        """Delete every check-in of the author; what the fan-out needs to retract each."""
        rows = await self.session.execute(
            text("""
            DELETE FROM checkins WHERE author_id = :a
            RETURNING id, author_id, circle_ids, public"""),
            {"a": author_id},
        )
        return [(r[0], DeliveryFacts(r[1], list(r[2]), r[3])) for r in rows]

    async def all_of(self, author_id: int) -> list[dict[str, Any]]:
        """Every check-in of the author with the exact venue and the reported position."""
        rows = await self.session.execute(
            text("""
            SELECT c.id, c.message, c.circle_ids, c.public, c.public_precision, c.created_at,
                   ST_Y(c.position::geometry), ST_X(c.position::geometry), c.accuracy_m,
                   p.id, p.name, ST_Y(p.position::geometry), ST_X(p.position::geometry)
            FROM checkins c JOIN places p ON p.id = c.place_id
            WHERE c.author_id = :a ORDER BY c.id DESC"""),
            {"a": author_id},
        )
        return [_exported(r) for r in rows]


def _exported(r: Any) -> dict[str, Any]:
    created: datetime = r[5]
    return {
        "id": str(r[0]),
        "message": r[1],
        "audience": {"circles": [str(c) for c in r[2]], "public": r[3]},
        "public_precision": r[4],
        "created_at": created,
        "lat": r[6],
        "lon": r[7],
        "accuracy_m": r[8],
        "place": {"id": str(r[9]), "name": r[10], "lat": r[11], "lon": r[12]},
    }
