"""The friend-graph importer, which commits: on the session's commit database."""

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from geo.core.config import Settings
from geo.social.graph_import import IMPORTED_PASSWORD_HASH, import_friend_graph, read_edges
from tests.conftest import plain


@pytest.fixture
def prefix(commit_database: str) -> Iterator[str]:
    value = f"gwt{os.getpid()}x"
    yield value
    with psycopg.connect(plain(commit_database)) as conn:  # friendships cascade
        conn.execute("DELETE FROM accounts WHERE handle LIKE %s", (value + "%",))


@pytest.fixture
def edge_file(tmp_path: Path) -> Path:
    path = tmp_path / "edges.tsv"
    # 6 edges: 1-2, 2-1 (reversed duplicate), 2-3, 3-3 (self-loop), 1-4, 1-2 (duplicate).
    path.write_text("uid\tfid\n1\t2\n2\t1\n2\t3\n3\t3\n1\t4\n1\t2\n", encoding="utf-8")
    return path


def _snapshot(url: str, prefix: str) -> tuple[dict[str, tuple[str, str]], set[tuple[str, str]]]:
    with psycopg.connect(plain(url)) as conn:
        accounts = {
            h: (k, p)
            for h, k, p in conn.execute(
                "SELECT handle, kind, password_hash FROM accounts WHERE handle LIKE %s",
                (prefix + "%",),
            )
        }
        friendships = set(
            conn.execute(
                """
            SELECT a.handle, b.handle FROM friendships f
            JOIN accounts a ON a.id = f.a_id JOIN accounts b ON b.id = f.b_id
            WHERE a.handle LIKE %(p)s OR b.handle LIKE %(p)s""",
                {"p": prefix + "%"},
            ).fetchall()
        )
    return accounts, friendships


def test_read_edges_dedupes_and_drops_self_loops(edge_file: Path) -> None:
    graph = read_edges(edge_file)
    assert graph.edges == [(1, 2), (2, 3), (1, 4)]
    assert graph.users == [1, 2, 3, 4]
    assert (graph.lines, graph.duplicates, graph.self_loops) == (6, 2, 1)
    assert read_edges(edge_file, limit_edges=2).edges == [(1, 2), (2, 3)]


def test_import_creates_accounts_and_mutual_friendships_idempotently(
    commit_database: str, prefix: str, edge_file: Path
) -> None:
    settings = Settings(database_url=commit_database)

    first = import_friend_graph(settings, edge_file, handle_prefix=prefix, progress=False)
    assert "4 accounts created" in first
    assert "6 friendship rows inserted" in first

    accounts, friendships = _snapshot(commit_database, prefix)
    assert accounts == {
        f"{prefix}{uid}": ("member", IMPORTED_PASSWORD_HASH) for uid in (1, 2, 3, 4)
    }
    pairs = {(1, 2), (2, 3), (1, 4)}
    assert friendships == {
        (f"{prefix}{a}", f"{prefix}{b}") for u, v in pairs for a, b in ((u, v), (v, u))
    }

    second = import_friend_graph(settings, edge_file, handle_prefix=prefix, progress=False)
    assert "0 accounts created" in second
    assert "0 friendship rows inserted" in second
    assert _snapshot(commit_database, prefix) == (accounts, friendships)


def test_handle_held_by_real_account_is_not_adopted(
    commit_database: str, prefix: str, edge_file: Path
) -> None:
    with psycopg.connect(plain(commit_database)) as conn:
        conn.execute(
            "INSERT INTO accounts (handle, password_hash, kind) VALUES (%s, 'x', 'member')",
            (f"{prefix.upper()}2",),
        )
    settings = Settings(database_url=commit_database)

    report = import_friend_graph(settings, edge_file, handle_prefix=prefix, progress=False)

    assert "1 handles held by real accounts" in report
    _, friendships = _snapshot(commit_database, prefix)
    assert friendships == {(f"{prefix}1", f"{prefix}4"), (f"{prefix}4", f"{prefix}1")}
