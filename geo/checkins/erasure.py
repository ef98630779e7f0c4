"""What leaving the service asks of check-ins: erase an author's, export an author's.

Erasure records, for each check-in, the very event a delete records (`checkin.deleted`), so the
fan-out retracts them from the public stream and every home timeline and tells open streams,
exactly as for one delete; the accounts domain never touches fan-out keys.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from geo.checkins.erasure_repository import CheckinErasureRepository, ExportedCheckin
from geo.checkins.schemas import ExportAudience, ExportCheckin, ExportPlace
from geo.checkins.service import record_deleted


async def erase_author(session: AsyncSession, *, author_id: int) -> int:
    """Delete all of the author's check-ins and record their retraction; how many there were."""
    deleted = await CheckinErasureRepository(session).delete_all_of(author_id)
    for checkin_id, facts in deleted:
        await record_deleted(session, checkin_id, facts)
    return len(deleted)


async def export_of(session: AsyncSession, *, author_id: int) -> list[ExportCheckin]:
    """The author's own check-ins, newest first, with exact venues and reported positions."""
    return [_exported(r) for r in await CheckinErasureRepository(session).all_of(author_id)]


def _exported(row: ExportedCheckin) -> ExportCheckin:
    return ExportCheckin(
        id=str(row.id),
        place=ExportPlace(
            id=str(row.place_id), name=row.place_name, lat=row.place_lat, lon=row.place_lon
        ),
        lat=row.lat,
        lon=row.lon,
        accuracy_m=row.accuracy_m,
        message=row.message,
        audience=ExportAudience(circles=[str(c) for c in row.circle_ids], public=row.public),
        # The column's CHECK holds the Literal's values.
        public_precision=row.public_precision,  # type: ignore[arg-type]
        created_at=row.created_at,
    )
