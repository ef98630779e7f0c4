"""Table definitions for Alembic's view of the schema (the tables are made by revision 0002)."""

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Table, Text, func

from geo.core.db import Base


def _account(name: str) -> Column:
    return Column(
        name,
        BigInteger,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=True,
    )


friend_requests = Table(
    "friend_requests",
    Base.metadata,
    Column("id", BigInteger, primary_key=True),
    Column("from_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("to_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)
friendships = Table(
    "friendships",
    Base.metadata,
    _account("a_id"),
    _account("b_id"),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)
circles = Table(
    "circles",
    Base.metadata,
    Column("id", BigInteger, primary_key=True),
    Column("owner_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), server_default=func.now()),
)
circle_members = Table(
    "circle_members",
    Base.metadata,
    Column("circle_id", BigInteger, ForeignKey("circles.id", ondelete="CASCADE"), primary_key=True),
    _account("member_id"),
)
follows = Table(
    "follows",
    Base.metadata,
    _account("follower_id"),
    _account("followee_id"),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)
blocks = Table(
    "blocks",
    Base.metadata,
    _account("blocker_id"),
    _account("blocked_id"),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)
