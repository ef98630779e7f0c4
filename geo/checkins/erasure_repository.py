"""SQL for erasing an author's check-ins and exporting them (spatial reads live here)."""

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from geo.checkins.repository import DeliveryFacts


class ExportedCheckin(NamedTuple):
    """A check-in as the author's export reads it: the reported position and the exact venue."""

    id: int
    message: str | None
    circle_ids: list[int]
    public: bool
    public_precision: str
    created_at: datetime
    lat: float
    lon: float
    accuracy_m: float
    place_id: int
    place_name: str
    place_lat: float
    place_lon: float


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

    async def all_of(self, author_id: int) -> list[ExportedCheckin]:
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
        return [ExportedCheckin(*r) for r in rows]
