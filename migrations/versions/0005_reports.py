"""Reports: hourly rollups with reach sketches (hll), the dirty-hour queue and the release log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24

Reach over any range is a union of hourly HyperLogLog sketches (the `hll` extension, Debian's
postgresql-15-hll). Triggers on the ad ledger queue each touched (campaign, hour) in
`report_dirty`; the rollup worker recomputes those rows from the ledger and deletes them.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE EXTENSION IF NOT EXISTS hll;

CREATE TABLE report_hourly (
    campaign_id bigint NOT NULL,
    hour timestamptz NOT NULL,
    band smallint NOT NULL,
    impressions bigint NOT NULL,
    clicks bigint NOT NULL,
    spend_milli_yen bigint NOT NULL,
    viewers hll NOT NULL,
    accounts bigint NOT NULL, -- hll_cardinality(viewers), kept so the k-floor costs no decoding
    CONSTRAINT pk_report_hourly PRIMARY KEY (campaign_id, hour, band)
);

CREATE TABLE report_holdout_hourly (
    campaign_id bigint NOT NULL,
    hour timestamptz NOT NULL,
    logged bigint NOT NULL,
    viewers hll NOT NULL,
    CONSTRAINT pk_report_holdout_hourly PRIMARY KEY (campaign_id, hour)
);

CREATE TABLE report_cells (
    campaign_id bigint NOT NULL,
    hour timestamptz NOT NULL,
    cell bigint NOT NULL,
    impressions bigint NOT NULL,
    viewers hll NOT NULL,
    CONSTRAINT pk_report_cells PRIMARY KEY (campaign_id, hour, cell)
);

CREATE TABLE report_dirty (
    campaign_id bigint NOT NULL,
    hour timestamptz NOT NULL,
    touched_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_report_dirty PRIMARY KEY (campaign_id, hour)
);

CREATE TABLE report_releases (
    campaign_id bigint NOT NULL,
    metric text NOT NULL,
    from_hour timestamptz NOT NULL,
    to_hour timestamptz NOT NULL,
    value bigint NOT NULL,
    released_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_report_releases PRIMARY KEY (campaign_id, metric, from_hour, to_hour, value)
);

-- Attribution probes: "was this account shown (or held out of) the ad shortly before?"
CREATE INDEX ix_ad_impressions_campaign_viewer_served
    ON ad_impressions (campaign_id, viewer_id, served_at);
CREATE INDEX ix_ad_holdouts_campaign_viewer_logged
    ON ad_holdouts (campaign_id, viewer_id, logged_at);
CREATE INDEX ix_checkins_place_id_created_at ON checkins (place_id, created_at);

-- ON CONFLICT DO UPDATE (not DO NOTHING) takes a row lock until the writer commits, so the
-- worker (FOR UPDATE SKIP LOCKED) never recomputes an hour while ledger rows for it are in flight.
CREATE FUNCTION report_mark_impressions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_dirty (campaign_id, hour)
    SELECT DISTINCT campaign_id, date_trunc('hour', served_at, 'UTC') FROM new_rows
    ORDER BY 1, 2
    ON CONFLICT (campaign_id, hour) DO UPDATE SET touched_at = now();
    RETURN NULL;
END $$;

CREATE FUNCTION report_mark_clicks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A click counts in the hour its impression was served; one that arrives before its
    -- impression is counted when the impression lands (that insert marks the hour).
    INSERT INTO report_dirty (campaign_id, hour)
    SELECT DISTINCT i.campaign_id, date_trunc('hour', i.served_at, 'UTC')
    FROM new_rows c JOIN ad_impressions i ON i.id = c.impression_id
    ORDER BY 1, 2
    ON CONFLICT (campaign_id, hour) DO UPDATE SET touched_at = now();
    RETURN NULL;
END $$;

CREATE FUNCTION report_mark_holdouts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_dirty (campaign_id, hour)
    SELECT DISTINCT campaign_id, date_trunc('hour', logged_at, 'UTC') FROM new_rows
    ORDER BY 1, 2
    ON CONFLICT (campaign_id, hour) DO UPDATE SET touched_at = now();
    RETURN NULL;
END $$;

CREATE TRIGGER report_mark_impressions AFTER INSERT ON ad_impressions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_impressions();
CREATE TRIGGER report_mark_clicks AFTER INSERT ON ad_clicks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_clicks();
CREATE TRIGGER report_mark_holdouts AFTER INSERT ON ad_holdouts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_holdouts();
"""

DOWNGRADE = """
DROP TRIGGER IF EXISTS report_mark_holdouts ON ad_holdouts;
DROP TRIGGER IF EXISTS report_mark_clicks ON ad_clicks;
DROP TRIGGER IF EXISTS report_mark_impressions ON ad_impressions;
DROP FUNCTION IF EXISTS report_mark_holdouts();
DROP FUNCTION IF EXISTS report_mark_clicks();
DROP FUNCTION IF EXISTS report_mark_impressions();
DROP INDEX IF EXISTS ix_checkins_place_id_created_at;
DROP INDEX IF EXISTS ix_ad_holdouts_campaign_viewer_logged;
DROP INDEX IF EXISTS ix_ad_impressions_campaign_viewer_served;
DROP TABLE IF EXISTS report_releases;
DROP TABLE IF EXISTS report_dirty;
DROP TABLE IF EXISTS report_cells;
DROP TABLE IF EXISTS report_holdout_hourly;
DROP TABLE IF EXISTS report_hourly;
DROP EXTENSION IF EXISTS hll;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
