"""Emergencies and safety check-ins: the operator account kind, declared areas, safety reports,
and the outbox index of the fan-out's priority lane.

Revision ID: 0006_safety
Revises: 0005
Create Date: 2026-11-30
"""

from alembic import op

revision = "0006_safety"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE accounts DROP CONSTRAINT ck_accounts_kind;
ALTER TABLE accounts ADD CONSTRAINT ck_accounts_kind
    CHECK (kind IN ('member', 'business', 'advertiser', 'operator'));

CREATE TABLE emergencies (
    id bigint NOT NULL DEFAULT geo_next_id(),
    name text NOT NULL,
    area geography(POLYGON, 4326) NOT NULL,
    declared_by bigint,
    starts_at timestamptz NOT NULL DEFAULT now(),
    ends_at timestamptz,
    lookback_hours integer NOT NULL DEFAULT 72,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_emergencies PRIMARY KEY (id),
    CONSTRAINT fk_emergencies_declared_by_accounts FOREIGN KEY (declared_by)
        REFERENCES accounts (id) ON DELETE SET NULL,
    CONSTRAINT ck_emergencies_window CHECK (ends_at IS NULL OR ends_at > starts_at),
    CONSTRAINT ck_emergencies_lookback CHECK (lookback_hours BETWEEN 1 AND 720)
);
CREATE INDEX ix_emergencies_area ON emergencies USING gist (area);

-- circle_ids NULL: all of the author's friends (the default audience of a safety report).
CREATE TABLE safety_reports (
    id bigint NOT NULL DEFAULT geo_next_id(),
    emergency_id bigint NOT NULL,
    author_id bigint NOT NULL,
    status text NOT NULL,
    message text,
    position geography(POINT, 4326),
    accuracy_m double precision,
    circle_ids bigint[],
    public boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_safety_reports PRIMARY KEY (id),
    CONSTRAINT fk_safety_reports_emergency_id_emergencies FOREIGN KEY (emergency_id)
        REFERENCES emergencies (id) ON DELETE CASCADE,
    CONSTRAINT fk_safety_reports_author_id_accounts FOREIGN KEY (author_id)
        REFERENCES accounts (id) ON DELETE CASCADE,
    CONSTRAINT ck_safety_reports_status CHECK (status IN ('safe', 'need_help'))
);
-- The board reads each author's latest report in an emergency.
CREATE INDEX ix_safety_reports_emergency_author
    ON safety_reports (emergency_id, author_id, id DESC);

-- The relay claims the priority lane's rows first, without scanning the ordinary backlog.
CREATE INDEX ix_outbox_unsent_priority ON outbox (id)
    WHERE sent_at IS NULL
      AND topic IN ('safety.created', 'emergency.declared', 'emergency.changed');
"""

DOWNGRADE = """
DROP INDEX ix_outbox_unsent_priority;
DROP TABLE safety_reports;
DROP TABLE emergencies;
DELETE FROM accounts WHERE kind = 'operator';
ALTER TABLE accounts DROP CONSTRAINT ck_accounts_kind;
ALTER TABLE accounts ADD CONSTRAINT ck_accounts_kind
    CHECK (kind IN ('member', 'business', 'advertiser'));
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
