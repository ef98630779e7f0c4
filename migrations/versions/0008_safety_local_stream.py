"""Safety reports: the position the public may know, indexed for the local public stream.

Revision ID: 0008_safety_local
Revises: 0007
Create Date: 2026-11-30

A public safety report shows the public the centre of its reported position's H3 cell at
resolution 7 (`area`, as `geo.emergencies.safety.place_view`); `public_position` is that centre and
`public_cell7` / `public_cell5` its cells at resolutions 7 and 5, indexed with the id exactly as the
check-ins' columns of migration 0006_locpriv, so the local public stream reads both tables the same
way (one short index range per covering cell). NULL when the report is not public or has no
position (a member reporting because they were last seen in the area): such a report reaches the
global public stream but has no place in a local one.
"""

import h3
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography

revision = "0008_safety_local"
down_revision = "0007"
branch_labels = None
depends_on = None

AREA_RESOLUTION = 7  # as geo.checkins.service (a migration is frozen in time)
BATCH = 5000


def _backfill() -> None:
    bind = op.get_bind()
    after = 0
    while rows := bind.execute(
        sa.text("""
        SELECT id, ST_Y(position::geometry), ST_X(position::geometry) FROM safety_reports
        WHERE public AND position IS NOT NULL AND id > :after ORDER BY id LIMIT :n"""),
        {"after": after, "n": BATCH},
    ).all():
        values = []
        for report_id, lat, lon in rows:
            clat, clon = h3.cell_to_latlng(h3.latlng_to_cell(lat, lon, AREA_RESOLUTION))
            values.append(
                {
                    "id": report_id,
                    "lat": clat,
                    "lon": clon,
                    "c7": h3.str_to_int(h3.latlng_to_cell(clat, clon, 7)),
                    "c5": h3.str_to_int(h3.latlng_to_cell(clat, clon, 5)),
                }
            )
        bind.execute(
            sa.text("""
            UPDATE safety_reports SET public_position = CAST(ST_SetSRID(
                ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)), 4326) AS geography),
                public_cell7 = :c7, public_cell5 = :c5
            WHERE id = :id"""),
            values,
        )
        after = rows[-1][0]


def upgrade() -> None:
    op.add_column(
        "safety_reports",
        sa.Column("public_position", Geography("POINT", srid=4326, spatial_index=False)),
    )
    op.add_column("safety_reports", sa.Column("public_cell7", sa.BigInteger))
    op.add_column("safety_reports", sa.Column("public_cell5", sa.BigInteger))
    _backfill()
    for column in ("public_cell7", "public_cell5"):
        op.create_index(
            f"ix_safety_reports_{column}_id",
            "safety_reports",
            [column, sa.text("id DESC")],
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
        )


def downgrade() -> None:
    for column in ("public_cell5", "public_cell7"):
        op.drop_index(f"ix_safety_reports_{column}_id", table_name="safety_reports")
        op.drop_column("safety_reports", column)
    op.drop_column("safety_reports", "public_position")
