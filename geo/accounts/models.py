from datetime import datetime
from typing import Literal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from geo.core.db import Base

ACCOUNT_KINDS = ("member", "business", "advertiser", "operator")
Kind = Literal["member", "business", "advertiser", "operator"]


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("kind IN ('member', 'business', 'advertiser', 'operator')", name="kind"),
        # Handles are unique whatever their case.
        Index("uq_accounts_handle_lower", func.lower(text("handle")), unique=True),
    )

    id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, server_default=text("geo_next_id()")
    )
    handle: Mapped[str] = mapped_column(Text, nullable=False)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[Kind] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class AccountToken(Base):
    __tablename__ = "account_tokens"
    __table_args__ = (Index("ix_account_tokens_account_id_expires_at", "account_id", "expires_at"),)

    token_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    # Sliding: moved forward while the token is used, never past created_at + the maximum age.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
