"""Bulk loading of places (synchronous psycopg, COPY): used by `geo seed` and the benchmarks."""

from collections.abc import Iterable, Sequence

import psycopg

STAGING_COLUMNS = ("name", "name_norm", "category", "lon", "lat", "address", "source", "source_ref")


class PlaceBulkRepository:
    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def create_staging(self) -> None:
        self.conn.execute("""
            CREATE TEMP TABLE IF NOT EXISTS place_staging (
                name text, name_norm text, category text, lon float8, lat float8,
                address text, source text, source_ref text) ON COMMIT DELETE ROWS""")

    def copy_into_staging(self, rows: Iterable[Sequence[object]]) -> None:
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY place_staging ({', '.join(STAGING_COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def insert_new_from_staging(self, *, duplicate_radius_m: float) -> int:
        """Insert staged rows that are neither seeded already nor duplicates of a stored place."""
        # A hash anti-join on the name would pair every 7-Eleven with every other one: probe the
        # GiST index per staged row instead.
        self.conn.execute("SET LOCAL enable_hashjoin = off")
        self.conn.execute("SET LOCAL enable_mergejoin = off")
        cur = self.conn.execute(
            """
            INSERT INTO places (name, name_norm, category, position, address, source, source_ref)
            SELECT s.name, s.name_norm, s.category,
                   ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)::geography,
                   s.address, s.source, s.source_ref
            FROM place_staging s
            WHERE NOT EXISTS (
                SELECT 1 FROM places p
                WHERE (p.name_norm || '') = s.name_norm  -- not the btree: the GiST bounds this
                  AND ST_DWithin(p.position,
                                 ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)::geography,
                                 %(r)s))
            ON CONFLICT (source, source_ref) WHERE source IS NOT NULL DO NOTHING""",
            {"r": duplicate_radius_m},
        )
        return cur.rowcount

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM places").fetchone()[0]  # type: ignore[index]

    def analyze(self) -> None:
        self.conn.execute("ANALYZE places")
