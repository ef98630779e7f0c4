"""Where people checked in, asked of an area (an emergency's): queries only.

Containment is decided on the venue's position, the one a viewer who sees a check-in at `exact`
precision knows; the area comes in as GeoJSON from its owner (the emergencies domain).
"""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from geo.checkins.repository import COLUMNS, IN_CIRCLE, VISIBLE, CheckinRow, LastPosition

IN_AREA = "ST_Covers(ST_GeomFromGeoJSON(:area)::geography, p.position)"
# Seen at the venue: in the viewer's circles (or their own), or public at exact precision.
EXACT_FOR_VIEWER = f"(c.author_id = :v OR {IN_CIRCLE} OR c.public_precision = 'exact')"


class PresenceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def checked_in_inside(self, *, author_id: int, area: str, since_id: int) -> bool:
        return bool(
            (
                await self.session.execute(
                    text(f"""
            SELECT EXISTS (SELECT 1 FROM checkins c JOIN places p ON p.id = c.place_id
                           WHERE c.author_id = :a AND c.id >= :since AND {IN_AREA})"""),
                    {"a": author_id, "area": area, "since": since_id},
                )
            ).scalar()
        )

    async def last_position(self, author_id: int) -> LastPosition | None:
        row = (
            await self.session.execute(
                text("""
            SELECT ST_Y(position::geometry), ST_X(position::geometry), created_at
            FROM checkins WHERE author_id = :a ORDER BY id DESC LIMIT 1"""),
                {"a": author_id},
            )
        ).first()
        return LastPosition(row[0], row[1], row[2]) if row else None

    async def friends_last_seen(
        self, *, viewer_id: int, area: str, since_id: int
    ) -> list[CheckinRow]:
        """Each friend's latest check-in inside the area since `since_id` that the viewer sees at
        `exact` precision (seeing only a cell must not place anyone inside an area)."""
        rows = (
            await self.session.execute(
                text(f"""
            SELECT DISTINCT ON (c.author_id) {COLUMNS}
            FROM friendships fr
            JOIN checkins c ON c.author_id = fr.b_id AND c.id >= :since
            JOIN places p ON p.id = c.place_id
            WHERE fr.a_id = :v AND {IN_AREA} AND {VISIBLE} AND {EXACT_FOR_VIEWER}
            ORDER BY c.author_id, c.id DESC"""),
                {"v": viewer_id, "area": area, "since": since_id},
            )
        ).all()
        return [CheckinRow(*r) for r in rows]

    async def last_inside(self, *, area: str, since_id: int) -> list[int]:
        """Accounts whose latest check-in (since `since_id`) is at a venue inside the area."""
        rows = (
            await self.session.execute(
                text(f"""
            SELECT l.author_id FROM (
                SELECT DISTINCT ON (author_id) author_id, place_id FROM checkins
                WHERE id >= :since ORDER BY author_id, id DESC) l
            JOIN places p ON p.id = l.place_id
            WHERE {IN_AREA}"""),
                {"area": area, "since": since_id},
            )
        ).all()
        return [r[0] for r in rows]
