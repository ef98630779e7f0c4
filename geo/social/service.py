"""Rules of both graphs. Friendship is mutual (requests and accepts); following is one-way; a block
ends both, both ways, and refuses new ones either way.

A request to an account that blocked the requester is answered exactly like a request to an
account that does not exist (404): no block oracle.
A request while the other side's request to you is pending accepts both (answer: `accepted`).
"""

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from geo.core.auth import Actor
from geo.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from geo.core.ids import MAX_ID
from geo.outbox import events as fanout
from geo.social.repository import CircleReads, CircleRow, FriendRequestRow, SocialRepository
from geo.social.schemas import CircleCreate, CircleUpdate

MAX_CIRCLES = 100


async def _other_account(repo: SocialRepository, actor: Actor, other_id: int) -> None:
    """404 for a missing account or one that blocks the actor; 422 for oneself or one blocked."""
    if other_id == actor.id:
        raise Unprocessable("That is your own account.")
    if not await repo.account_exists(other_id) or await repo.blocks(other_id, actor.id):
        raise NotFound("No such account.")
    if await repo.blocks(actor.id, other_id):
        raise Unprocessable("You block this account; unblock it first.")


async def send_friend_request(
    session: AsyncSession, *, actor: Actor, to_id: int
) -> FriendRequestRow:
    repo = SocialRepository(session)
    await _other_account(repo, actor, to_id)
    await repo.lock_pair(actor.id, to_id)
    if await repo.are_friends(actor.id, to_id):
        raise Conflict("You are already friends.")
    if await repo.pending_request(actor.id, to_id):
        raise Conflict("A request to this account is already pending.")
    reverse = await repo.pending_request(to_id, actor.id)
    if reverse is not None:
        await repo.set_request_status(reverse.id, "accepted")
        await repo.add_friendship(actor.id, to_id)
        return await repo.insert_request(actor.id, to_id, "accepted")
    return await repo.insert_request(actor.id, to_id, "pending")


async def accept_friend_request(
    session: AsyncSession, *, actor: Actor, request_id: int
) -> FriendRequestRow:
    repo = SocialRepository(session)
    request = await repo.request_by_id(request_id)
    if request is None or actor.id not in (request.from_id, request.to_id):
        raise NotFound("No such friend request.")
    if request.to_id != actor.id:
        raise Forbidden("Only the addressee may accept a friend request.")
    await repo.lock_pair(request.from_id, request.to_id)
    if request.status != "pending":
        raise Conflict(f"The request is {request.status}.")
    if await repo.blocked_either_way(request.from_id, request.to_id):
        raise NotFound("No such friend request.")
    await repo.set_request_status(request.id, "accepted")
    await repo.add_friendship(request.from_id, request.to_id)
    return FriendRequestRow(request.id, request.from_id, request.to_id, "accepted")


async def unfriend(session: AsyncSession, *, actor: Actor, other_id: int) -> None:
    repo = SocialRepository(session)
    await repo.lock_pair(actor.id, other_id)
    if not await repo.remove_friendship(actor.id, other_id):
        raise NotFound("Not a friend.")
    await repo.remove_from_each_others_circles(actor.id, other_id)
    await _revoke_both_ways(session, actor.id, other_id)


async def _revoke_both_ways(session: AsyncSession, a: int, b: int) -> None:
    await fanout.record_access_revoked(session, author_id=a, viewer_ids=[b])
    await fanout.record_access_revoked(session, author_id=b, viewer_ids=[a])


async def friend_ids(
    session: AsyncSession, *, actor: Actor, limit: int, before: int | None
) -> list[int]:
    return await SocialRepository(session).friends_page(actor.id, limit=limit, before=before)


async def _checked_members(repo: SocialRepository, actor: Actor, members: list[str]) -> list[int]:
    ids = sorted({int(m) for m in members})
    # Ids beyond int64 cannot be anyone's: they are strangers without asking the database.
    friends = await repo.which_are_friends(actor.id, [i for i in ids if i <= MAX_ID])
    strangers = [i for i in ids if i not in friends]
    if strangers:
        raise Unprocessable(
            "Circle members must be your friends.",
            errors=[
                {"field": "body.members", "message": f"not a friend: {i}", "id": str(i)}
                for i in strangers
            ],
        )
    return ids


async def create_circle(session: AsyncSession, *, actor: Actor, data: CircleCreate) -> CircleRow:
    repo = SocialRepository(session)
    if await repo.count_circles(actor.id) >= MAX_CIRCLES:
        raise Unprocessable(f"At most {MAX_CIRCLES} circles per account.")
    members = await _checked_members(repo, actor, data.members)
    circle_id = await repo.insert_circle(actor.id, data.name)
    await repo.replace_members(circle_id, members)
    return await get_circle(session, actor=actor, circle_id=circle_id)


async def check_own_circles(
    conn: asyncpg.Connection, *, actor: Actor, circle_ids: list[int]
) -> None:
    """404 unless the actor owns every one of these circles (`get_circle`'s rule for many, in one
    statement on a driver connection: the check-in write's)."""
    if any(c > MAX_ID for c in circle_ids):
        raise NotFound("No such circle.")
    wanted = set(circle_ids)
    if wanted and await CircleReads(conn).owned_ids(actor.id, circle_ids) != wanted:
        raise NotFound("No such circle.")


async def get_circle(session: AsyncSession, *, actor: Actor, circle_id: int) -> CircleRow:
    circle = await SocialRepository(session).owned_circle(actor.id, circle_id)
    if circle is None:
        raise NotFound("No such circle.")
    return circle


async def list_circles(
    session: AsyncSession, *, actor: Actor, limit: int, before: int | None
) -> list[CircleRow]:
    return await SocialRepository(session).owned_circles(actor.id, limit=limit, before=before)


async def update_circle(
    session: AsyncSession, *, actor: Actor, circle_id: int, data: CircleUpdate
) -> CircleRow:
    repo = SocialRepository(session)
    before = await get_circle(session, actor=actor, circle_id=circle_id)
    if data.name is not None:
        await repo.rename_circle(circle_id, data.name)
    if data.members is not None:
        members = await _checked_members(repo, actor, data.members)
        await repo.replace_members(circle_id, members)
        await fanout.record_access_revoked(
            session, author_id=actor.id, viewer_ids=sorted(set(before.members) - set(members))
        )
    return await get_circle(session, actor=actor, circle_id=circle_id)


async def delete_circle(session: AsyncSession, *, actor: Actor, circle_id: int) -> None:
    circle = await get_circle(session, actor=actor, circle_id=circle_id)
    await SocialRepository(session).delete_circle(circle_id)
    await fanout.record_access_revoked(session, author_id=actor.id, viewer_ids=circle.members)


async def follow(session: AsyncSession, *, actor: Actor, followee_id: int) -> None:
    repo = SocialRepository(session)
    await _other_account(repo, actor, followee_id)
    await repo.add_follow(actor.id, followee_id)


async def unfollow(session: AsyncSession, *, actor: Actor, followee_id: int) -> None:
    if await SocialRepository(session).remove_follows(actor.id, followee_id, both_ways=False):
        await fanout.record_access_revoked(session, author_id=followee_id, viewer_ids=[actor.id])


async def block(session: AsyncSession, *, actor: Actor, blocked_id: int) -> None:
    """Block: ends friendship, follows, circle memberships and pending requests, both ways."""
    repo = SocialRepository(session)
    if blocked_id == actor.id:
        raise Unprocessable("You cannot block yourself.")
    if not await repo.account_exists(blocked_id):
        raise NotFound("No such account.")
    await repo.lock_pair(actor.id, blocked_id)
    await repo.add_block(actor.id, blocked_id)
    await repo.remove_friendship(actor.id, blocked_id)
    await repo.remove_from_each_others_circles(actor.id, blocked_id)
    await repo.remove_follows(actor.id, blocked_id, both_ways=True)
    await repo.cancel_pending_between(actor.id, blocked_id)
    await _revoke_both_ways(session, actor.id, blocked_id)


async def unblock(session: AsyncSession, *, actor: Actor, blocked_id: int) -> None:
    await SocialRepository(session).remove_block(actor.id, blocked_id)


# Reads the fan-out needs: one query each, however large the audience.
async def circle_audience(
    session: AsyncSession, *, author_id: int, circle_ids: list[int]
) -> list[int]:
    return await SocialRepository(session).circle_audience(author_id, circle_ids)


async def followers(session: AsyncSession, *, account_id: int) -> list[int]:
    return await SocialRepository(session).followers(account_id)


async def followers_of_many(
    session: AsyncSession, *, account_ids: list[int]
) -> dict[int, list[int]]:
    return await SocialRepository(session).followers_of_many(account_ids)


async def blocked_either_way(session: AsyncSession, a: int, b: int) -> bool:
    return await SocialRepository(session).blocked_either_way(a, b)


async def all_friends(session: AsyncSession, *, account_id: int) -> list[int]:
    """Every friend of an account (a safety report's default audience)."""
    return await SocialRepository(session).friends_page(account_id, limit=1_000_000, before=None)
