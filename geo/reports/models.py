"""The reports' tables (revisions 0005 and 0006_adspriv), for Alembic's view of the schema; queries
are SQL in the repositories."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    REAL,
    BigInteger,
    Date,
    DateTime,
    Index,
    SmallInteger,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from geo.core.db import Base


class HLL(UserDefinedType[Any]):
    """A HyperLogLog sketch of the `hll` extension (distinct viewers, unioned across hours)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "hll"


class ReportHourly(Base):
    """An hour's figures per campaign and distance band, with a sketch of its viewers."""

    __tablename__ = "report_hourly"

    campaign_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    band: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    impressions: Mapped[int] = mapped_column(BigInteger, nullable=False)
    clicks: Mapped[int] = mapped_column(BigInteger, nullable=False)
    spend_milli_yen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    viewers = mapped_column(HLL, nullable=False)
    accounts: Mapped[int] = mapped_column(BigInteger, nullable=False)


class ReportHoldoutHourly(Base):
    __tablename__ = "report_holdout_hourly"

    campaign_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    logged: Mapped[int] = mapped_column(BigInteger, nullable=False)
    viewers = mapped_column(HLL, nullable=False)


class ReportCell(Base):
    """An hour's impressions per H3 cell (the map), with a sketch of its viewers."""

    __tablename__ = "report_cells"

    campaign_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    cell: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    impressions: Mapped[int] = mapped_column(BigInteger, nullable=False)
    viewers = mapped_column(HLL, nullable=False)


class ReportDirty(Base):
    """Hours whose ledger rows changed since the rollup last ran (marked by triggers)."""

    __tablename__ = "report_dirty"

    campaign_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    touched_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class ReportAccess(Base):
    """Which of a campaign's figures were released, and the UTC day each first was: a figure
    costs its epsilon once, that day."""

    __tablename__ = "report_access"
    __table_args__ = (Index("ix_report_access_campaign_id_day", "campaign_id", "day"),)

    campaign_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    figure: Mapped[str] = mapped_column(Text, primary_key=True)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    epsilon: Mapped[float] = mapped_column(REAL, nullable=False)
