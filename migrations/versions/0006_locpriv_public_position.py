"""Check-ins: the position the public may know, indexed; private by default.

Revision ID: 0006_locpriv
Revises: 0005
Create Date: 2026-11-30

`public_position` is where the public stream places a public check-in: the venue for `exact`, the
centre of the venue's H3 cell for `area` (resolution 7) and `city` (resolution 5); NULL when the
check-in is not public. The local public stream is a GiST query on it, so a neighbourhood's
stream does not depend on traffic elsewhere and never reveals more than that position.
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
            {"id": r[0], "lat": lat, "lon": lon}
            for r in rows
            for lat, lon in [_public_point(r[2], r[3], r[1])]
        ]
        bind.execute(
            sa.text("""
            UPDATE checkins SET public_position = CAST(ST_SetSRID(
                ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)), 4326) AS geography)
            WHERE id = :id"""),
            values,
        )
        after = rows[-1][0]


def upgrade() -> None:
    op.add_column(
        "checkins",
        sa.Column("public_position", Geography("POINT", srid=4326, spatial_index=False)),
    )
    _backfill()
    op.create_index(
        "ix_checkins_public_position",
        "checkins",
        ["public_position"],
        postgresql_using="gist",
        postgresql_where=sa.text("public_position IS NOT NULL"),
    )
    op.alter_column("checkins", "public_precision", server_default="area")


def downgrade() -> None:
    op.alter_column("checkins", "public_precision", server_default="exact")
    op.drop_index("ix_checkins_public_position", table_name="checkins")
    op.drop_column("checkins", "public_position")
