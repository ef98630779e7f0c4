"""Leaving and taking one's data: `DELETE /v1/me` erases an account, `GET /v1/me/export` hands a
person their own data.

In the composition layer because it reaches every domain (accounts cannot import the domains that
import accounts). Erasure runs in the request's one transaction, each domain erasing its own part
through its own service: check-ins (each retracted by the fan-out as a delete is), the social graph
(the fan-out told which viewers to clean), the ad ledger (pseudonymised), tokens (revoked at once
in every process), then the account row; its places stay, ownerless (the foreign key sets NULL),
and its campaigns go with it (cascade). A wrong password is 403 (the bearer token is fine, so not
401, which would tell a client to drop it), and the attempt counts against the sign-in limits: a
stolen token must not become a password oracle.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from geo.accounts import service as accounts
from geo.accounts import tokens
from geo.accounts.passwords import verify_password
from geo.accounts.schemas import AccountRead
from geo.accounts.throttle import AuthThrottle
from geo.ads import erasure as ads_erasure
from geo.api.schemas import AccountExport
from geo.checkins import erasure as checkins_erasure
from geo.core.auth import Actor
from geo.core.config import Settings
from geo.core.errors import Forbidden
from geo.core.redis import RedisClient
from geo.outbox import events as fanout
from geo.social import erasure as social_erasure


async def erase(
    session: AsyncSession,
    redis: RedisClient,
    *,
    actor: Actor,
    password: str,
    settings: Settings,
    throttle: AuthThrottle,
    address: str,
) -> None:
    await throttle.attempt(action="sign-in", handle=actor.handle, address=address)
    account = await accounts.get_account(session, actor.id)
    if not await verify_password(account.password_hash, password):
        raise Forbidden("Wrong password: the account was not erased.")
    await tokens.revoke_all(session, redis, settings, account_id=actor.id)
    await checkins_erasure.erase_author(session, author_id=actor.id)
    await social_erasure.erase_account(session, account_id=actor.id)
    await ads_erasure.forget_viewer(session, viewer_id=actor.id)
    # What the account had received goes too (by the fan-out, after the commit).
    await fanout.record_account_erased(session, account_id=actor.id)
    await accounts.delete_account(session, actor.id)


async def export(session: AsyncSession, *, actor: Actor) -> AccountExport:
    account = await accounts.get_account(session, actor.id)
    social = await social_erasure.export_of(session, account_id=actor.id)
    return AccountExport(
        account=AccountRead(
            id=str(account.id),
            handle=account.handle,
            kind=account.kind,
            created_at=account.created_at,
        ),
        checkins=await checkins_erasure.export_of(session, author_id=actor.id),
        friends=social.friends,
        circles=social.circles,
        following=social.following,
        followers=social.followers,
        blocked=social.blocked,
    )
