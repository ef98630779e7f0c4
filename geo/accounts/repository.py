from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from geo.accounts.models import Account, AccountToken


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_if_handle_free(
        self, *, handle: str, password_hash: str, kind: str
    ) -> Account | None:
        # The unique index on lower(handle) decides races between two sign-ups for one handle.
        stmt = (
            insert(Account)
            .values(handle=handle, password_hash=password_hash, kind=kind)
            .on_conflict_do_nothing(index_elements=[func.lower(Account.handle)])
            .returning(Account)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_handle(self, handle: str) -> Account | None:
        stmt = select(Account).where(func.lower(Account.handle) == handle.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_id(self, account_id: int) -> Account | None:
        return await self.session.get(Account, account_id)

    async def by_ids(self, ids: list[int]) -> list[Account]:
        if not ids:
            return []
        return list((await self.session.scalars(select(Account).where(Account.id.in_(ids)))).all())

    async def add_token(
        self, *, account_id: int, token_hash: bytes, lifetime: timedelta
    ) -> AccountToken:
        stmt = (
            insert(AccountToken)
            .values(token_hash=token_hash, account_id=account_id, expires_at=func.now() + lifetime)
            .returning(AccountToken)
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def by_token_hash(self, token_hash: bytes) -> tuple[Account, AccountToken] | None:
        """The account and token of a live (unexpired) token."""
        stmt = (
            select(Account, AccountToken)
            .join(AccountToken, AccountToken.account_id == Account.id)
            .where(AccountToken.token_hash == token_hash, AccountToken.expires_at > func.now())
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return (row[0], row[1]) if row else None

    async def extend_token(
        self, token_hash: bytes, *, idle: timedelta, max_age: timedelta
    ) -> datetime | None:
        """Slide a live token's expiry to now + idle, capped at its created_at + max_age."""
        target = func.least(AccountToken.created_at + max_age, func.now() + idle)
        stmt = (
            update(AccountToken)
            .where(AccountToken.token_hash == token_hash, AccountToken.expires_at > func.now())
            .values(expires_at=func.greatest(AccountToken.expires_at, target))
            .returning(AccountToken.expires_at)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def delete_token(self, token_hash: bytes) -> None:
        await self.session.execute(
            delete(AccountToken).where(AccountToken.token_hash == token_hash)
        )

    async def delete_tokens(self, account_id: int) -> None:
        await self.session.execute(
            delete(AccountToken).where(AccountToken.account_id == account_id)
        )

    async def delete_expired_tokens(self, account_id: int) -> None:
        # Keeps an account's dead tokens from piling up; runs on its sign-ins (indexed).
        await self.session.execute(
            delete(AccountToken).where(
                AccountToken.account_id == account_id, AccountToken.expires_at <= func.now()
            )
        )

    async def delete(self, account_id: int) -> None:
        # Foreign keys finish the job: tokens, idempotency keys and campaigns cascade; places
        # keep existing with owner_id set to NULL.
        await self.session.execute(delete(Account).where(Account.id == account_id))

    async def now(self) -> datetime:
        return (await self.session.execute(select(func.clock_timestamp()))).scalar_one()


@dataclass(frozen=True, slots=True)
class LiveToken:
    account_id: int
    handle: str
    kind: str
    created_at: datetime
    expires_at: datetime


# `AccountRepository.by_token_hash` and `extend_token` as SQL texts, for a bare asyncpg connection.
LIVE_TOKEN_SQL = """
    SELECT a.id, a.handle, a.kind, t.created_at, t.expires_at
    FROM account_tokens t JOIN accounts a ON a.id = t.account_id
    WHERE t.token_hash = $1 AND t.expires_at > now()"""
EXTEND_TOKEN_SQL = """
    UPDATE account_tokens SET expires_at = greatest(expires_at, least(created_at + $2, now() + $3))
    WHERE token_hash = $1 AND expires_at > now()
    RETURNING expires_at"""


class TokenReads:
    """A token cache miss on the read pool's asyncpg connection (autocommit): one prepared
    statement, where a session and the ORM cost a miss more than the whole check-in it guards
    (docs/benchmarks.md, issue 13)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def live_token(self, token_hash: bytes) -> LiveToken | None:
        row = await self.conn.fetchrow(LIVE_TOKEN_SQL, token_hash)
        return LiveToken(*row) if row else None

    async def extend_token(
        self, token_hash: bytes, *, idle: timedelta, max_age: timedelta
    ) -> datetime | None:
        return await self.conn.fetchval(EXTEND_TOKEN_SQL, token_hash, max_age, idle)  # type: ignore[no-any-return]
