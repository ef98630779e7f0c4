"""What leaving the service asks of check-ins: erase an author's, export an author's.

Erasure records, for each check-in, the very event a delete records (`checkin.deleted`), so the
fan-out retracts them from the public stream and every home timeline and tells open streams,
exactly as for one delete; the accounts domain never touches fan-out keys.
"""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from geo.checkins.erasure_repository import CheckinErasureRepository
from geo.checkins.service import record_deleted


async def erase_author(session: AsyncSession, *, author_id: int) -> int:
    """Delete all of the author's check-ins and record their retraction; how many there were."""
    deleted = await CheckinErasureRepository(session).delete_all_of(author_id)
    for checkin_id, facts in deleted:
        await record_deleted(session, checkin_id, facts)
    return len(deleted)


async def export_of(session: AsyncSession, *, author_id: int) -> list[dict[str, Any]]:
    """The author's own check-ins, newest first, with exact venues and reported positions."""
    return await CheckinErasureRepository(session).all_of(author_id)
