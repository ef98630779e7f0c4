"""Tokens expire: `account_tokens.expires_at` (sliding, up to a maximum age from `created_at`).

Revision ID: 0006_auth
Revises: 0005
Create Date: 2026-11-30

Existing tokens get 30 days from now (the default idle lifetime), so an upgrade signs nobody out
at once but no old token lives forever. The index serves the purge of an account's dead tokens.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_auth"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "account_tokens",
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now() + interval '30 days'"),
        ),
    )
    # The application always sets it; the default only served the rows that existed.
    op.alter_column("account_tokens", "expires_at", server_default=None)
    op.create_index(
        "ix_account_tokens_account_id_expires_at", "account_tokens", ["account_id", "expires_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_account_tokens_account_id_expires_at", table_name="account_tokens")
    op.drop_column("account_tokens", "expires_at")
