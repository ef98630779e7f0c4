"""The social graph: friend requests, mutual friendships, circles, follows, blocks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _account_fk(column: str, table: str) -> sa.Column:
    return sa.Column(
        column,
        sa.BigInteger,
        sa.ForeignKey("accounts.id", ondelete="CASCADE", name=f"fk_{table}_{column}_accounts"),
        nullable=False,
    )


def _created() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def upgrade() -> None:
    op.create_table(
        "friend_requests",
        sa.Column("id", sa.BigInteger, nullable=False, server_default=sa.text("geo_next_id()")),
        _account_fk("from_id", "friend_requests"),
        _account_fk("to_id", "friend_requests"),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        _created(),
        sa.PrimaryKeyConstraint("id", name="pk_friend_requests"),
        sa.CheckConstraint("status IN ('pending', 'accepted', 'cancelled')", name="status"),
        sa.CheckConstraint("from_id <> to_id", name="not_self"),
    )
    op.create_index(
        "uq_friend_requests_pending",
        "friend_requests",
        ["from_id", "to_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_friend_requests_to_id", "friend_requests", ["to_id"])
    # Stored in both directions, so "friends of X" is one index range scan on (a_id).
    op.create_table(
        "friendships",
        _account_fk("a_id", "friendships"),
        _account_fk("b_id", "friendships"),
        _created(),
        sa.PrimaryKeyConstraint("a_id", "b_id", name="pk_friendships"),
        sa.CheckConstraint("a_id <> b_id", name="not_self"),
    )
    op.create_table(
        "circles",
        sa.Column("id", sa.BigInteger, nullable=False, server_default=sa.text("geo_next_id()")),
        _account_fk("owner_id", "circles"),
        sa.Column("name", sa.Text, nullable=False),
        _created(),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_circles"),
    )
    op.create_index("ix_circles_owner_id", "circles", ["owner_id"])
    op.create_table(
        "circle_members",
        sa.Column(
            "circle_id",
            sa.BigInteger,
            sa.ForeignKey(
                "circles.id", ondelete="CASCADE", name="fk_circle_members_circle_id_circles"
            ),
            nullable=False,
        ),
        _account_fk("member_id", "circle_members"),
        sa.PrimaryKeyConstraint("circle_id", "member_id", name="pk_circle_members"),
    )
    op.create_index("ix_circle_members_member_id", "circle_members", ["member_id"])
    op.create_table(
        "follows",
        _account_fk("follower_id", "follows"),
        _account_fk("followee_id", "follows"),
        _created(),
        sa.PrimaryKeyConstraint("follower_id", "followee_id", name="pk_follows"),
        sa.CheckConstraint("follower_id <> followee_id", name="not_self"),
    )
    op.create_index("ix_follows_followee_id", "follows", ["followee_id", "follower_id"])
    op.create_table(
        "blocks",
        _account_fk("blocker_id", "blocks"),
        _account_fk("blocked_id", "blocks"),
        _created(),
        sa.PrimaryKeyConstraint("blocker_id", "blocked_id", name="pk_blocks"),
        sa.CheckConstraint("blocker_id <> blocked_id", name="not_self"),
    )
    op.create_index("ix_blocks_blocked_id", "blocks", ["blocked_id", "blocker_id"])


def downgrade() -> None:
    for table in (
        "blocks",
        "follows",
        "circle_members",
        "circles",
        "friendships",
        "friend_requests",
    ):
        op.drop_table(table)
