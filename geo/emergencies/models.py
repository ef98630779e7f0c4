"""The emergencies' tables (revision 0006_safety), for Alembic's view of the schema; queries are
SQL in the repositories."""

from datetime import datetime

from geoalchemy2 import Geography
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from geo.core.db import Base


class Emergency(Base):
    __tablename__ = "emergencies"
    __table_args__ = (
        CheckConstraint("lookback_hours >= 1 AND lookback_hours <= 720", name="lookback"),
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="window"),
        Index("ix_emergencies_area", "area", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, server_default=text("geo_next_id()")
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    area = mapped_column(Geography("POLYGON", srid=4326, spatial_index=False), nullable=False)
    declared_by: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="SET NULL")
    )
    starts_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lookback_hours: Mapped[int] = mapped_column(Integer, nullable=False, server_default="72")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class SafetyReport(Base):
    __tablename__ = "safety_reports"
    __table_args__ = (
        CheckConstraint("status IN ('safe', 'need_help')", name="status"),
        Index("ix_safety_reports_emergency_author", "emergency_id", "author_id", text("id DESC")),
        # The local public stream (migration 0008_safety_local), as the check-ins' own.
        Index(
            "ix_safety_reports_public_cell5_id",
            "public_cell5",
            text("id DESC"),
            postgresql_where=text("public_cell5 IS NOT NULL"),
        ),
        Index(
            "ix_safety_reports_public_cell7_id",
            "public_cell7",
            text("id DESC"),
            postgresql_where=text("public_cell7 IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, server_default=text("geo_next_id()")
    )
    emergency_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("emergencies.id", ondelete="CASCADE"), nullable=False
    )
    author_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(Text, nullable=False)
    message: Mapped[str | None] = mapped_column(Text)
    position = mapped_column(Geography("POINT", srid=4326, spatial_index=False))
    accuracy_m: Mapped[float | None] = mapped_column(Double)
    # NULL: all of the author's friends; else the friends in these circles.
    circle_ids: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    public: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # Where the public may place a public report (its area cell's centre); NULL when not public
    # or reported without a position.
    public_position = mapped_column(Geography("POINT", srid=4326, spatial_index=False))
    public_cell7: Mapped[int | None] = mapped_column(BigInteger)
    public_cell5: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
