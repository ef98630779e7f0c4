"""Check-ins, their idempotency keys, and the transactional outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkins",
        sa.Column("id", sa.BigInteger, nullable=False, server_default=sa.text("geo_next_id()")),
        sa.Column(
            "author_id",
            sa.BigInteger,
            sa.ForeignKey("accounts.id", ondelete="CASCADE", name="fk_checkins_author_id_accounts"),
            nullable=False,
        ),
        sa.Column(
            "place_id",
            sa.BigInteger,
            sa.ForeignKey("places.id", ondelete="CASCADE", name="fk_checkins_place_id_places"),
            nullable=False,
        ),
        sa.Column("position", Geography("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("accuracy_m", sa.Float, nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("circle_ids", ARRAY(sa.BigInteger), nullable=False, server_default="{}"),
        sa.Column("public", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("public_precision", sa.Text, nullable=False, server_default="exact"),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_checkins"),
        sa.CheckConstraint("public_precision IN ('exact', 'area', 'city')", name="precision"),
    )
    op.create_index("ix_checkins_author_id_id", "checkins", ["author_id", sa.text("id DESC")])
    op.create_index("ix_checkins_place_id_id", "checkins", ["place_id", sa.text("id DESC")])
    # A retried write returns its first answer: the key row is inserted in the check-in's own
    # transaction, so a concurrent retry waits on this unique key and then reads that answer.
    op.create_table(
        "idempotency_keys",
        sa.Column(
            "account_id",
            sa.BigInteger,
            sa.ForeignKey(
                "accounts.id", ondelete="CASCADE", name="fk_idempotency_keys_account_id_accounts"
            ),
            nullable=False,
        ),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("request_hash", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("response", JSONB),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("account_id", "key", name="pk_idempotency_keys"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index(
        "ix_outbox_unsent", "outbox", ["id"], postgresql_where=sa.text("sent_at IS NULL")
    )


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("idempotency_keys")
    op.drop_table("checkins")
