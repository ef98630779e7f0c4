"""Check-ins: the position the public may know, indexed; private by default.

Revision ID: 0006_locpriv
Revises: 0005
Create Date: 2026-11-30

`public_position` is where the public stream places a public check-in: the venue for `exact`, the
centre of the venue's H3 cell for `area` (resolution 7) and `city` (resolution 5); NULL when the
check-in is not public. `public_cell7` / `public_cell5` are the H3 cells (as integers) of that
position at resolutions 7 and 5, each indexed with the id: the local public stream reads the
newest rows of each cell covering the reader's disc (one short index range per cell, merged by
id), so its cost depends on the cells read, never on traffic elsewhere nor on how much a dense
region holds; it never reveals more than the public position. (A GiST index on the position was
measured first: its planner estimates are flat, and a dense 10 km disc sorted ~90,000 rows.)
`public_precision` now defaults to `area` (private by default).
"""

import h3
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography

revision = "0006_locpriv"
down_revision = "0005"
branch_labels = None
depends_on = None

RESOLUTION = {"area": 7, "city": 5}  # as geo.checkins.service (a migration is frozen in time)
BATCH = 5000


def _public_point(lat: float, lon: float, precision: str) -> tuple[float, float]:
    if precision == "exact":
        return lat, lon
    return h3.cell_to_latlng(h3.latlng_to_cell(lat, lon, RESOLUTION[precision]))


def _cell(lat: float, lon: float, resolution: int) -> int:
    return h3.str_to_int(h3.latlng_to_cell(lat, lon, resolution))


def _backfill() -> None:
    bind = op.get_bind()
    after = 0
    while rows := bind.execute(
        sa.text("""
        SELECT c.id, c.public_precision, ST_Y(p.position::geometry), ST_X(p.position::geometry)
        FROM checkins c JOIN places p ON p.id = c.place_id
        WHERE c.public AND c.id > :after ORDER BY c.id LIMIT :n"""),
        {"after": after, "n": BATCH},
    ).all():
        values = [
            {"id": r[0], "lat": lat, "lon": lon, "c7": _cell(lat, lon, 7), "c5": _cell(lat, lon, 5)}
            for r in rows
            for lat, lon in [_public_point(r[2], r[3], r[1])]
        ]
        bind.execute(
            sa.text("""
            UPDATE checkins SET public_position = CAST(ST_SetSRID(
                ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)), 4326) AS geography),
                public_cell7 = :c7, public_cell5 = :c5
            WHERE id = :id"""),
            values,
        )
        after = rows[-1][0]


def upgrade() -> None:
    op.add_column(
        "checkins",
        sa.Column("public_position", Geography("POINT", srid=4326, spatial_index=False)),
    )
    op.add_column("checkins", sa.Column("public_cell7", sa.BigInteger))
    op.add_column("checkins", sa.Column("public_cell5", sa.BigInteger))
    _backfill()
    for column in ("public_cell7", "public_cell5"):
        op.create_index(
            f"ix_checkins_{column}_id",
            "checkins",
            [column, sa.text("id DESC")],
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
        )
    op.alter_column("checkins", "public_precision", server_default="area")


def downgrade() -> None:
    op.alter_column("checkins", "public_precision", server_default="exact")
    for column in ("public_cell5", "public_cell7"):
        op.drop_index(f"ix_checkins_{column}_id", table_name="checkins")
        op.drop_column("checkins", column)
    op.drop_column("checkins", "public_position")
