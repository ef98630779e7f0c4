"""The ads' tables (revisions 0004 and 0006_ledger), for Alembic's view of the schema; queries are
SQL in the repositories. The three ledgers are partitioned by id range; their partitions are made
and dropped at run time (geo/core/partitions.py), so migrations/env.py leaves them out."""

from datetime import date, datetime

from geoalchemy2 import Geography
from sqlalchemy import (
    REAL,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Sequence,
    SmallInteger,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from geo.core.db import Base

# Bumped on every campaign write: the serving index reloads what changed since its last revision.
REVISION_SEQ = Sequence("campaign_revision_seq")


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("(target_radius_m IS NULL) <> (target_area IS NULL)", name="one_target"),
        CheckConstraint("bid_cpm > 0", name="bid"),
        CheckConstraint("budget_daily >= 0 AND budget_daily <= budget_total", name="budgets"),
        CheckConstraint("ends_at > starts_at", name="window"),
        CheckConstraint("status IN ('active', 'paused', 'ended')", name="status"),
        Index("ix_campaigns_owner_id_id", "owner_id", text("id DESC")),
        Index("ix_campaigns_target", "target", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, server_default=text("geo_next_id()")
    )
    owner_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    place_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("places.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    headline: Mapped[str] = mapped_column(Text, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    # One of radius (around the place) or area; `target` is the one in force, for the index.
    target_radius_m: Mapped[int | None] = mapped_column(Integer)
    target_area = mapped_column(Geography("POLYGON", srid=4326, spatial_index=False))
    target = mapped_column(Geography(srid=4326, spatial_index=False), nullable=False)
    bid_cpm: Mapped[int] = mapped_column(Integer, nullable=False)
    budget_total: Mapped[int] = mapped_column(Integer, nullable=False)
    budget_daily: Mapped[int] = mapped_column(Integer, nullable=False)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    hours: Mapped[list[int] | None] = mapped_column(ARRAY(SmallInteger))
    timezone: Mapped[str] = mapped_column(
        Text, nullable=False, server_default=text("'Asia/Tokyo'::text")
    )
    categories: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    cap_count: Mapped[int] = mapped_column(Integer, nullable=False)
    cap_hours: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'active'::text"))
    holdout_share: Mapped[float] = mapped_column(
        REAL, nullable=False, server_default=text("'0.05'::real")
    )
    revision: Mapped[int] = mapped_column(
        BigInteger,
        REVISION_SEQ,
        nullable=False,
        server_default=REVISION_SEQ.next_value(),
        index=True,
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class PlaceAdvertiser(Base):
    """The owner of a place lets this advertiser account run campaigns for it."""

    __tablename__ = "place_advertisers"

    place_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("places.id", ondelete="CASCADE"), primary_key=True
    )
    advertiser_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class BudgetLease(Base):
    """What Redis was handed of a campaign's day budget (spend is bounded by leases)."""

    __tablename__ = "ad_budget_leases"

    campaign_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    leased_milli_yen: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=text("'0'::bigint")
    )


# The ledgers: no foreign keys (a campaign's rows outlive it for the reports' retention).
PARTITIONED_BY_ID = {"postgresql_partition_by": "RANGE (id)"}


class Impression(Base):
    __tablename__ = "ad_impressions"
    __table_args__ = (
        Index("ix_ad_impressions_campaign_id_served_at", "campaign_id", "served_at"),
        Index("ix_ad_impressions_campaign_viewer_served", "campaign_id", "viewer_id", "served_at"),
        PARTITIONED_BY_ID,
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    viewer_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    served_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    position = mapped_column(Geography("POINT", srid=4326, spatial_index=False), nullable=False)
    distance_m: Mapped[float] = mapped_column(REAL, nullable=False)
    cost_milli_yen: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Holdout(Base):
    """A viewer who was eligible and shown nothing (the lift's control group)."""

    __tablename__ = "ad_holdouts"
    __table_args__ = (
        Index("ix_ad_holdouts_campaign_id_logged_at", "campaign_id", "logged_at"),
        Index("ix_ad_holdouts_campaign_viewer_logged", "campaign_id", "viewer_id", "logged_at"),
        PARTITIONED_BY_ID,
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    viewer_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    logged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    position = mapped_column(Geography("POINT", srid=4326, spatial_index=False), nullable=False)
    distance_m: Mapped[float] = mapped_column(REAL, nullable=False)


class Click(Base):
    __tablename__ = "ad_clicks"
    __table_args__ = (
        Index("ix_ad_clicks_campaign_id_clicked_at", "campaign_id", "clicked_at"),
        {"postgresql_partition_by": "RANGE (impression_id)"},
    )

    impression_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    viewer_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    clicked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
