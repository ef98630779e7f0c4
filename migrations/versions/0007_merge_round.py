"""One head again after the round's parallel work: each 0006 revision stands on 0005 and touches
its own tables (report access, token expiry, ledger partitions, public positions, emergencies),
so their order does not matter; this revision joins them.

Revision ID: 0007
Revises: 0006_adspriv, 0006_auth, 0006_ledger, 0006_locpriv, 0006_safety
"""

revision = "0007"
down_revision = ("0006_adspriv", "0006_auth", "0006_ledger", "0006_locpriv", "0006_safety")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
