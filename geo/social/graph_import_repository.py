"""Bulk loading of a friendship graph (synchronous psycopg, COPY): used by the graph importer."""

from collections.abc import Iterable, Sequence

import psycopg


class GraphBulkRepository:
    """Temp staging tables live until the end of the importer's transaction (ON COMMIT DROP)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def create_staging(self) -> None:
        self.conn.execute("""
            CREATE TEMP TABLE graph_user_staging (uid bigint PRIMARY KEY, handle text NOT NULL)
            ON COMMIT DROP""")
        self.conn.execute("""
            CREATE TEMP TABLE graph_edge_staging (u bigint NOT NULL, v bigint NOT NULL)
            ON COMMIT DROP""")

    def copy_users(self, rows: Iterable[Sequence[object]]) -> None:
        with (
            self.conn.cursor() as cur,
            cur.copy("COPY graph_user_staging (uid, handle) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def copy_edges(self, rows: Iterable[Sequence[object]]) -> None:
        with (
            self.conn.cursor() as cur,
            cur.copy("COPY graph_edge_staging (u, v) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def analyze_staging(self) -> None:
        self.conn.execute("ANALYZE graph_user_staging")
        self.conn.execute("ANALYZE graph_edge_staging")

    def insert_accounts(self, *, password_hash: str) -> int:
        """One member account per staged user whose handle is free; returns how many were made."""
        cur = self.conn.execute(
            """
            INSERT INTO accounts (handle, password_hash, kind)
            SELECT s.handle, %(ph)s, 'member' FROM graph_user_staging s ORDER BY s.uid
            ON CONFLICT ((lower(handle))) DO NOTHING""",
            {"ph": password_hash},
        )
        return cur.rowcount

    def map_user_ids(self, *, password_hash: str) -> int:
        """Resolve uid -> account id by handle into a temp table; returns how many resolved.

        Only accounts carrying the import marker count: a handle already taken by a real,
        signed-up account is left unmapped, so imported edges never attach to a real person.
        """
        self.conn.execute(
            """
            CREATE TEMP TABLE graph_user_ids ON COMMIT DROP AS
            SELECT s.uid, a.id AS account_id
            FROM graph_user_staging s
            JOIN accounts a ON lower(a.handle) = lower(s.handle)
            WHERE a.password_hash = %(ph)s""",
            {"ph": password_hash},
        )
        self.conn.execute("ALTER TABLE graph_user_ids ADD PRIMARY KEY (uid)")
        self.conn.execute("ANALYZE graph_user_ids")
        return self.conn.execute("SELECT count(*) FROM graph_user_ids").fetchone()[0]  # type: ignore[index]

    def insert_friendships(self) -> int:
        """Both directions of every staged edge whose two ends resolved; returns rows inserted."""
        cur = self.conn.execute("""
            INSERT INTO friendships (a_id, b_id)
            SELECT d.a_id, d.b_id
            FROM graph_edge_staging e
            JOIN graph_user_ids iu ON iu.uid = e.u
            JOIN graph_user_ids iv ON iv.uid = e.v
            CROSS JOIN LATERAL (VALUES (iu.account_id, iv.account_id),
                                       (iv.account_id, iu.account_id)) AS d (a_id, b_id)
            WHERE iu.account_id <> iv.account_id
            ON CONFLICT (a_id, b_id) DO NOTHING""")
        return cur.rowcount
