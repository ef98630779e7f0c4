"""Proximity ads: campaigns, advertiser grants, budget leases, and the event ledger.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

Money is exact integers: budgets in yen, charges in milli-yen (a CPM bid in yen is exactly the
per-impression price in milli-yen).
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{target}.id", ondelete="CASCADE", name=f"fk_{table}_{column}_{target}")


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    # Every insert or edit of a campaign takes the next revision, so each API process can refresh
    # its in-memory index with only the rows changed since the revision it last saw.
    op.execute("CREATE SEQUENCE campaign_revision_seq")
    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger, nullable=False, server_default=sa.text("geo_next_id()")),
        sa.Column(
            "owner_id", sa.BigInteger, _fk("campaigns", "owner_id", "accounts"), nullable=False
        ),
        sa.Column(
            "place_id", sa.BigInteger, _fk("campaigns", "place_id", "places"), nullable=False
        ),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("headline", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("target_radius_m", sa.Integer),
        sa.Column("target_area", Geography("POLYGON", srid=4326, spatial_index=False)),
        sa.Column("target", Geography(srid=4326, spatial_index=False), nullable=False),
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
        sa.Column("holdout_share", sa.REAL, nullable=False, server_default="0.05"),
        sa.Column(
            "revision",
            sa.BigInteger,
            nullable=False,
            server_default=sa.text("nextval('campaign_revision_seq')"),
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
        sa.CheckConstraint("status IN ('active', 'paused', 'ended')", name="status"),
        sa.CheckConstraint("(target_radius_m IS NULL) <> (target_area IS NULL)", name="one_target"),
        sa.CheckConstraint("budget_daily >= 0 AND budget_daily <= budget_total", name="budgets"),
        sa.CheckConstraint("bid_cpm > 0", name="bid"),
        sa.CheckConstraint("ends_at > starts_at", name="window"),
    )
    op.create_index("ix_campaigns_target", "campaigns", ["target"], postgresql_using="gist")
    op.create_index("ix_campaigns_owner_id_id", "campaigns", ["owner_id", sa.text("id DESC")])
    op.create_index("ix_campaigns_place_id", "campaigns", ["place_id"])
    op.create_index("ix_campaigns_revision", "campaigns", ["revision"])

    # A place's owner lets an advertiser account run campaigns for it.
    op.create_table(
        "place_advertisers",
        sa.Column(
            "place_id",
            sa.BigInteger,
            _fk("place_advertisers", "place_id", "places"),
            nullable=False,
        ),
        sa.Column(
            "advertiser_id",
            sa.BigInteger,
            _fk("place_advertisers", "advertiser_id", "accounts"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.PrimaryKeyConstraint("place_id", "advertiser_id", name="pk_place_advertisers"),
    )

    # Redis may only spend budget leased here first: after Redis loses its data, whatever was
    # leased counts as spent, so a restore can never overspend (see geo/ads/budget.py).
    op.create_table(
        "ad_budget_leases",
        sa.Column(
            "campaign_id",
            sa.BigInteger,
            _fk("ad_budget_leases", "campaign_id", "campaigns"),
            nullable=False,
        ),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("leased_milli_yen", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("campaign_id", "day", name="pk_ad_budget_leases"),
    )

    op.create_table(
        "ad_impressions",
        sa.Column("id", sa.BigInteger, nullable=False),
        sa.Column("campaign_id", sa.BigInteger, nullable=False),
        sa.Column("viewer_id", sa.BigInteger, nullable=False),
        sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("position", Geography("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("distance_m", sa.REAL, nullable=False),
        sa.Column("cost_milli_yen", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ad_impressions"),
    )
    op.create_index(
        "ix_ad_impressions_campaign_id_served_at", "ad_impressions", ["campaign_id", "served_at"]
    )

    op.create_table(
        "ad_clicks",
        sa.Column("impression_id", sa.BigInteger, nullable=False),
        sa.Column("campaign_id", sa.BigInteger, nullable=False),
        sa.Column("viewer_id", sa.BigInteger, nullable=False),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("impression_id", name="pk_ad_clicks"),
    )
    op.create_index(
        "ix_ad_clicks_campaign_id_clicked_at", "ad_clicks", ["campaign_id", "clicked_at"]
    )

    op.create_table(
        "ad_holdouts",
        sa.Column("id", sa.BigInteger, nullable=False),
        sa.Column("campaign_id", sa.BigInteger, nullable=False),
        sa.Column("viewer_id", sa.BigInteger, nullable=False),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("position", Geography("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("distance_m", sa.REAL, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ad_holdouts"),
    )
    op.create_index(
        "ix_ad_holdouts_campaign_id_logged_at", "ad_holdouts", ["campaign_id", "logged_at"]
    )


def downgrade() -> None:
    for table in (
        "ad_holdouts",
        "ad_clicks",
        "ad_impressions",
        "ad_budget_leases",
        "place_advertisers",
        "campaigns",
    ):
        op.drop_table(table)
    op.execute("DROP SEQUENCE campaign_revision_seq")
