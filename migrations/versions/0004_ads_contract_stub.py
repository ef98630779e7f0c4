"""STUB of the ads engine's tables, exactly as /work/wt/ADS_CONTRACT.md fixes them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

The `ads` branch owns revision 0004; this stub lets the reports branch build and test against the
contract until `ads` is merged, and is deleted in favour of the real 0004 at that merge.
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _point() -> Geography:
    return Geography("POINT", srid=4326, spatial_index=False)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger, primary_key=True, server_default=sa.text("geo_next_id()")),
        sa.Column("owner_id", sa.BigInteger, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("place_id", sa.BigInteger, sa.ForeignKey("places.id"), nullable=False),
        sa.Column("name", sa.Text), sa.Column("headline", sa.Text), sa.Column("body", sa.Text),
        sa.Column("target_radius_m", sa.Integer),
        sa.Column("target_area", Geography("POLYGON", srid=4326, spatial_index=False)),
        sa.Column("target", Geography(srid=4326, spatial_index=True), nullable=False),
        sa.Column("bid_cpm", sa.Integer, nullable=False),
        sa.Column("budget_total", sa.Integer, nullable=False),
        sa.Column("budget_daily", sa.Integer, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hours", ARRAY(sa.SmallInteger)),
        sa.Column("timezone", sa.Text, nullable=False, server_default="Asia/Tokyo"),
        sa.Column("categories", ARRAY(sa.Text)),
        sa.Column("cap_count", sa.Integer, nullable=False),
        sa.Column("cap_hours", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="active"),
        sa.Column("holdout_share", sa.Float, nullable=False, server_default="0.05"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_table(
        "ad_impressions",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("campaign_id", sa.BigInteger, nullable=False),
        sa.Column("viewer_id", sa.BigInteger, nullable=False),
        sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("position", _point(), nullable=False),
        sa.Column("distance_m", sa.Float(precision=24), nullable=False),
        sa.Column("cost_milli_yen", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_ad_impressions_campaign_served", "ad_impressions",
                    ["campaign_id", "served_at"])
    op.create_table(
        "ad_clicks",
        sa.Column("impression_id", sa.BigInteger, primary_key=True),
        sa.Column("campaign_id", sa.BigInteger, nullable=False),
        sa.Column("viewer_id", sa.BigInteger, nullable=False),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ad_clicks_campaign_clicked", "ad_clicks", ["campaign_id", "clicked_at"])
    op.create_table(
        "ad_holdouts",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("campaign_id", sa.BigInteger, nullable=False),
        sa.Column("viewer_id", sa.BigInteger, nullable=False),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("position", _point(), nullable=False),
        sa.Column("distance_m", sa.Float(precision=24), nullable=False),
    )
    op.create_index("ix_ad_holdouts_campaign_logged", "ad_holdouts", ["campaign_id", "logged_at"])


def downgrade() -> None:
    op.drop_table("ad_holdouts")
    op.drop_table("ad_clicks")
    op.drop_table("ad_impressions")
    op.drop_table("campaigns")
