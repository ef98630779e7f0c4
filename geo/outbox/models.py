"""The outbox table (revision 0003; partitioned by id range since 0006_ledger), for Alembic's view
of the schema. Its partitions are made and dropped at run time (geo/core/partitions.py), so
migrations/env.py leaves them out of the comparison."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.core.db import Base
from geo.outbox.events import PRIORITY_TOPICS

_PRIORITY = ", ".join(f"'{t}'::text" for t in PRIORITY_TOPICS)


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_unsent", "id", postgresql_where=text("sent_at IS NULL")),
        # The priority lane's rows (geo.outbox.events.PRIORITY_TOPICS).
        Index(
            "ix_outbox_unsent_priority",
            "id",
            postgresql_where=text(f"sent_at IS NULL AND topic = ANY (ARRAY[{_PRIORITY}])"),
        ),
        {"postgresql_partition_by": "RANGE (id)"},
    )

    id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, server_default=text("geo_next_id()")
    )
    topic: Mapped[str] = mapped_column(Text, nullable=False)
    payload = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
