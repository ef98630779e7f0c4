from datetime import datetime

from geoalchemy2 import Geography
from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from geo.core.db import Base


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    parent_id: Mapped[str | None] = mapped_column(Text, ForeignKey("categories.id"))
    position: Mapped[int] = mapped_column(nullable=False, server_default="0")


class Place(Base):
    __tablename__ = "places"
    __table_args__ = (
        Index("ix_places_position", "position", postgresql_using="gist"),
        Index(
            "ix_places_name_norm_trgm",
            "name_norm",
            postgresql_using="gin",
            postgresql_ops={"name_norm": "gin_trgm_ops"},
        ),
        Index(
            "uq_places_source_ref",
            "source",
            "source_ref",
            unique=True,
            postgresql_where=text("source IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, server_default=text("geo_next_id()")
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    name_norm: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    category: Mapped[str] = mapped_column(
        Text, ForeignKey("categories.id"), nullable=False, index=True
    )
    position = mapped_column(Geography("POINT", srid=4326, spatial_index=False), nullable=False)
    address: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    # Where a seeded row came from (e.g. 'osm', 'ekidata') and its key there: makes seeding
    # idempotent.
    source: Mapped[str | None] = mapped_column(Text)
    source_ref: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
