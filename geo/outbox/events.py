"""Fan-out work that domains record in their own transaction (an outbox row); the fan-out worker
handles it after the commit. The topics are the contract between the writers and the fan-out.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from geo.outbox.repository import OutboxRepository

CHECKIN_CREATED = "checkin.created"
CHECKIN_DELETED = "checkin.deleted"
ACCESS_REVOKED = "access.revoked"
ACCOUNT_ERASED = "account.erased"


async def record_access_revoked(
    session: AsyncSession, *, author_id: int, viewer_ids: list[int]
) -> None:
    """These viewers may have lost some of the author's check-ins (unfriend, circle removal, block,
    unfollow): the fan-out takes what they may no longer receive out of their home timelines and
    tells their open streams. Reads re-check visibility meanwhile, so nothing shows in between.
    """
    if viewer_ids:
        await OutboxRepository(session).add(
            ACCESS_REVOKED,
            {"author_id": str(author_id), "viewer_ids": [str(v) for v in sorted(set(viewer_ids))]},
        )


async def record_account_erased(session: AsyncSession, *, account_id: int) -> None:
    """The account was erased: the fan-out drops its own home timeline (what it had received)."""
    await OutboxRepository(session).add(ACCOUNT_ERASED, {"account_id": str(account_id)})


# The priority lane: the relay moves these first, to their own stream that workers read first
# (safety reports and emergency alerts must not queue behind ordinary check-ins). The partial
# index `ix_outbox_unsent_priority` (migration 0006_safety) lists the same topics.
SAFETY_CREATED = "safety.created"
EMERGENCY_DECLARED = "emergency.declared"
EMERGENCY_CHANGED = "emergency.changed"
PRIORITY_TOPICS = (SAFETY_CREATED, EMERGENCY_DECLARED, EMERGENCY_CHANGED)


async def record_emergency(session: AsyncSession, *, topic: str, emergency_id: int) -> None:
    """An emergency was declared (alert the people last seen inside) or its end moved (the ads
    re-read the active areas)."""
    await OutboxRepository(session).add(topic, {"emergency_id": str(emergency_id)})


async def record_checkin_deleted(
    session: AsyncSession, *, checkin_id: int, author_id: int, circle_ids: list[int], public: bool
) -> None:
    """A check-in was deleted; the row is gone, so the event carries what the fan-out needs to
    find its copies."""
    await OutboxRepository(session).add(
        CHECKIN_DELETED,
        {
            "checkin_id": str(checkin_id),
            "author_id": str(author_id),
            "circle_ids": [str(c) for c in circle_ids],
            "public": public,
        },
    )
