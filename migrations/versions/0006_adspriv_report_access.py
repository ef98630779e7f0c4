"""Reports: the data access budget replaces the release log of the differencing guard.

Every released report figure carries noise drawn from a seed fixed by the figure itself (campaign,
metric, range), so asking again returns the same value and costs nothing; each distinct figure
costs its epsilon once, on the UTC day it is first released, and `report_access` remembers which
figures were released and when. The release log (`report_releases`) of the old differencing
guard is dropped.

Revision ID: 0006_adspriv
Revises: 0005
"""

from alembic import op

revision = "0006_adspriv"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE report_access (
    campaign_id bigint NOT NULL,
    figure text NOT NULL,
    day date NOT NULL,
    epsilon real NOT NULL,
    CONSTRAINT pk_report_access PRIMARY KEY (campaign_id, figure)
);
CREATE INDEX ix_report_access_campaign_id_day ON report_access (campaign_id, day);
DROP TABLE report_releases;
"""

DOWNGRADE = """
CREATE TABLE report_releases (
    campaign_id bigint NOT NULL,
    metric text NOT NULL,
    from_hour timestamptz NOT NULL,
    to_hour timestamptz NOT NULL,
    value bigint NOT NULL,
    released_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_report_releases PRIMARY KEY (campaign_id, metric, from_hour, to_hour, value)
);
DROP TABLE IF EXISTS report_access;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
