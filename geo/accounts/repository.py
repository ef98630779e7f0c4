from sqlalchemy import func, select
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

    async def add_token(self, *, account_id: int, token_hash: bytes) -> None:
        self.session.add(AccountToken(token_hash=token_hash, account_id=account_id))
        await self.session.flush()

    async def by_token_hash(self, token_hash: bytes) -> Account | None:
        stmt = (
            select(Account)
            .join(AccountToken, AccountToken.account_id == Account.id)
            .where(AccountToken.token_hash == token_hash)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()
