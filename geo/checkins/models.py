"""The check-ins' tables (made by revisions 0003 and 0006_locpriv), for Alembic's view of the
schema; queries are SQL in the repositories."""

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
    LargeBinary,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.core.db import Base


class Checkin(Base):
    __tablename__ = "checkins"
    __table_args__ = (
        CheckConstraint("public_precision IN ('exact', 'area', 'city')", name="precision"),
        Index("ix_checkins_author_id_id", "author_id", text("id DESC")),
        Index("ix_checkins_place_id_created_at", "place_id", "created_at"),
        Index("ix_checkins_place_id_id", "place_id", text("id DESC")),
        # The local public stream: ids per H3 cell of the public position (public ones only).
        Index(
            "ix_checkins_public_cell5_id",
            "public_cell5",
            text("id DESC"),
            postgresql_where=text("public_cell5 IS NOT NULL"),
        ),
        Index(
            "ix_checkins_public_cell7_id",
            "public_cell7",
            text("id DESC"),
            postgresql_where=text("public_cell7 IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, server_default=text("geo_next_id()")
    )
    author_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    place_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("places.id", ondelete="CASCADE"), nullable=False
    )
    position = mapped_column(Geography("POINT", srid=4326, spatial_index=False), nullable=False)
    accuracy_m: Mapped[float] = mapped_column(Double, nullable=False)
    message: Mapped[str | None] = mapped_column(Text)
    circle_ids: Mapped[list[int]] = mapped_column(
        ARRAY(BigInteger), nullable=False, server_default=text("'{}'::bigint[]")
    )
    public: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    public_precision: Mapped[str] = mapped_column(
        Text, nullable=False, server_default=text("'area'::text")
    )
    # Where the public may place it (the venue, or its H3 cell's centre); NULL when not public.
    public_position = mapped_column(Geography("POINT", srid=4326, spatial_index=False))
    public_cell7: Mapped[int | None] = mapped_column(BigInteger)
    public_cell5: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    status: Mapped[int | None] = mapped_column(Integer)
    response = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
