"""Table definitions for Alembic's view of the schema (the tables are made by revision 0002)."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Table,
    Text,
    func,
    text,
)

from geo.core.db import Base


def _account(name: str) -> Column:
    return Column(
        name,
        BigInteger,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=True,
    )


def _created_at() -> Column:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


def _id() -> Column:
    return Column("id", BigInteger, primary_key=True, server_default=text("geo_next_id()"))


friend_requests = Table(
    "friend_requests",
    Base.metadata,
    _id(),
    Column("from_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column(
        "to_id",
        BigInteger,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("status", Text, nullable=False, server_default=text("'pending'::text")),
    _created_at(),
    CheckConstraint("from_id <> to_id", name="not_self"),
    CheckConstraint("status IN ('pending', 'accepted', 'cancelled')", name="status"),
    # One pending request per ordered pair.
    Index(
        "uq_friend_requests_pending",
        "from_id",
        "to_id",
        unique=True,
        postgresql_where=text("status = 'pending'::text"),
    ),
)
friendships = Table(
    "friendships",
    Base.metadata,
    _account("a_id"),
    _account("b_id"),
    _created_at(),
    CheckConstraint("a_id <> b_id", name="not_self"),
)
circles = Table(
    "circles",
    Base.metadata,
    _id(),
    Column(
        "owner_id",
        BigInteger,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("name", Text, nullable=False),
    _created_at(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
circle_members = Table(
    "circle_members",
    Base.metadata,
    Column("circle_id", BigInteger, ForeignKey("circles.id", ondelete="CASCADE"), primary_key=True),
    _account("member_id"),
    Index("ix_circle_members_member_id", "member_id"),
)
follows = Table(
    "follows",
    Base.metadata,
    _account("follower_id"),
    _account("followee_id"),
    _created_at(),
    CheckConstraint("follower_id <> followee_id", name="not_self"),
    Index("ix_follows_followee_id", "followee_id", "follower_id"),
)
blocks = Table(
    "blocks",
    Base.metadata,
    _account("blocker_id"),
    _account("blocked_id"),
    _created_at(),
    CheckConstraint("blocker_id <> blocked_id", name="not_self"),
    Index("ix_blocks_blocked_id", "blocked_id", "blocker_id"),
)
