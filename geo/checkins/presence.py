"""Who was where, for another domain's area (the emergencies'): the rules over presence queries,
and the Idempotency-Key store that other retried writes of a person share with check-ins."""

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from geo.checkins.presence_repository import PresenceRepository
from geo.checkins.repository import CheckinRepository, CheckinRow, LastPosition
from geo.checkins.schemas import CheckinRead
from geo.checkins.service import claim_idempotency_or_replay, render
from geo.core.ids import id_floor_for


async def checked_in_inside(
    session: AsyncSession, *, author_id: int, area: str, since: datetime
) -> bool:
    """Did the author check in at a venue inside the GeoJSON area since `since`?"""
    return await PresenceRepository(session).checked_in_inside(
        author_id=author_id, area=area, since_id=id_floor_for(since)
    )


async def last_position(session: AsyncSession, author_id: int) -> LastPosition | None:
    return await PresenceRepository(session).last_position(author_id)


async def friends_last_seen(
    session: AsyncSession, *, viewer_id: int, area: str, since: datetime
) -> dict[int, tuple[CheckinRow, CheckinRead]]:
    """By friend: their latest check-in inside the area that this viewer sees at the venue,
    with its view for this viewer."""
    rows = await PresenceRepository(session).friends_last_seen(
        viewer_id=viewer_id, area=area, since_id=id_floor_for(since)
    )
    views = await render(session, rows)
    return {row.author_id: (row, view) for row, view in zip(rows, views, strict=True)}


async def last_inside(session: AsyncSession, *, area: str, since: datetime) -> list[int]:
    """Accounts whose latest check-in since `since` lies inside the area."""
    return await PresenceRepository(session).last_inside(area=area, since_id=id_floor_for(since))


async def claim_or_replay(
    session: AsyncSession, *, account_id: int, key: str, request_hash: bytes
) -> tuple[int, dict[str, Any]] | None:
    """Own an Idempotency-Key (None), or the first answer given under it; another body: 422.
    The same store and rules as check-ins (`service.claim_idempotency_or_replay`)."""
    return await claim_idempotency_or_replay(
        CheckinRepository(session), account_id, key, request_hash
    )


async def store_answer(
    session: AsyncSession, *, account_id: int, key: str, status: int, body: dict[str, Any]
) -> None:
    await CheckinRepository(session).store_answer(
        account_id=account_id, key=key, status=status, body=body
    )
