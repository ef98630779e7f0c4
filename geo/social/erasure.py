"""What leaving the service asks of the social graph: erase an account from it, export its part.

Before the graph rows go, the fan-out is told (`access.revoked`, as an unfriend or a block tells
it) which viewers may hold the account's check-ins: it then takes the deleted ones out of their
home timelines and open streams. Resolved now, because after the commit the graph that would
name those viewers is gone.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from geo.outbox import events as fanout
from geo.social.erasure_repository import (
    BLOCKED,
    FOLLOWERS,
    FOLLOWING,
    FRIENDS,
    Person,
    SocialErasureRepository,
)
from geo.social.schemas import ExportCircle, ExportPerson, SocialExport


async def erase_account(session: AsyncSession, *, account_id: int) -> None:
    repo = SocialErasureRepository(session)
    viewers = await repo.audience_of(account_id)
    await fanout.record_access_revoked(session, author_id=account_id, viewer_ids=viewers)
    await repo.delete_graph(account_id)


async def export_of(session: AsyncSession, *, account_id: int) -> SocialExport:
    """The account's friends, circles, follows both ways and blocks."""
    repo = SocialErasureRepository(session)
    return SocialExport(
        friends=_people(await repo.people(FRIENDS, account_id)),
        circles=[
            ExportCircle(id=str(c.id), name=c.name, members=[str(m) for m in c.members])
            for c in await repo.circles(account_id)
        ],
        following=_people(await repo.people(FOLLOWING, account_id)),
        followers=_people(await repo.people(FOLLOWERS, account_id)),
        blocked=_people(await repo.people(BLOCKED, account_id)),
    )


def _people(rows: list[Person]) -> list[ExportPerson]:
    return [ExportPerson(id=str(p.id), handle=p.handle) for p in rows]
