"""What leaving the service asks of the social graph: erase an account from it, export its part.

Before the graph rows go, the fan-out is told (`access.revoked`, as an unfriend or a block tells
it) which viewers may hold the account's check-ins: it then takes the deleted ones out of their
home timelines and open streams. Resolved now, because after the commit the graph that would
name those viewers is gone.
"""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from geo.outbox import events as fanout
from geo.social.erasure_repository import (
    BLOCKED,
    FOLLOWERS,
    FOLLOWING,
    FRIENDS,
    SocialErasureRepository,
)


async def erase_account(session: AsyncSession, *, account_id: int) -> None:
    repo = SocialErasureRepository(session)
    viewers = await repo.audience_of(account_id)
    await fanout.record_access_revoked(session, author_id=account_id, viewer_ids=viewers)
    await repo.delete_graph(account_id)


async def export_of(session: AsyncSession, *, account_id: int) -> dict[str, Any]:
    """The account's friends, circles, follows both ways and blocks."""
    repo = SocialErasureRepository(session)
    return {
        "friends": await repo.people(FRIENDS, account_id),
        "circles": await repo.circles(account_id),
        "following": await repo.people(FOLLOWING, account_id),
        "followers": await repo.people(FOLLOWERS, account_id),
        "blocked": await repo.people(BLOCKED, account_id),
    }
