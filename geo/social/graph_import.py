"""Bulk import of a real friendship edge list (e.g. Gowalla) as accounts and mutual friendships.

Input is one `u<TAB>v` pair of numeric user ids per line (commas or spaces also accepted), with an
optional non-numeric header line such as `uid<TAB>fid`. Edges are undirected: duplicates in either
direction are merged and self-loops dropped. Each user id becomes a member account with handle
f"{handle_prefix}{uid}"; each edge becomes a mutual friendship stored in both directions.

Imported accounts cannot sign in: their password_hash is the marker IMPORTED_PASSWORD_HASH, which
is not an Argon2 hash, so password verification always fails for them.

Idempotent: accounts are inserted ON CONFLICT on lower(handle) and friendships ON CONFLICT on
(a_id, b_id), so a second run inserts nothing. A handle already held by a real (signed-up) account
is never adopted: edges touching it are skipped and counted in the summary.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from tqdm import tqdm

from geo.core.config import Settings, driver_url
from geo.social.graph_import_repository import GraphBulkRepository

IMPORTED_PASSWORD_HASH = "!imported"
STAGES = ("read edges", "stage", "accounts", "map ids", "friendships")


@dataclass(frozen=True)
class EdgeList:
    edges: list[tuple[int, int]]  # undirected, each as (min, max), in first-seen order
    users: list[int]  # sorted
    lines: int
    duplicates: int
    self_loops: int


def read_edges(path: Path, *, limit_edges: int | None = None) -> EdgeList:
    """Parse, dedupe (undirected) and drop self-loops; stop after `limit_edges` distinct edges."""
    seen: dict[tuple[int, int], None] = {}
    lines = duplicates = self_loops = 0
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            fields = line.replace(",", " ").split()
            if not fields:
                continue
            try:
                u, v = int(fields[0]), int(fields[1])
            except (ValueError, IndexError) as exc:
                if lines == 0:  # a header line such as "uid\tfid"
                    continue
                raise ValueError(
                    f"{path}:{number}: expected two numeric user ids, got {line!r}"
                ) from exc
            lines += 1
            if u == v:
                self_loops += 1
                continue
            key = (u, v) if u < v else (v, u)
            if key in seen:
                duplicates += 1
                continue
            seen[key] = None
            if limit_edges is not None and len(seen) >= limit_edges:
                break
    edges = list(seen)
    users = sorted({uid for edge in edges for uid in edge})
    return EdgeList(edges, users, lines, duplicates, self_loops)


def import_friend_graph(
    settings: Settings,
    path: Path,
    *,
    handle_prefix: str = "gw",
    limit_edges: int | None = None,
    progress: bool = True,
) -> str:
    """Import the edge list at `path`; returns a one-line summary.

    Creates one member account per user id (handle f"{handle_prefix}{uid}", password_hash
    "!imported" so the account can never sign in) and both directions of every undirected edge
    in `friendships`. Runs in one transaction; idempotent.
    """
    if limit_edges is not None and limit_edges < 1:
        raise ValueError("limit_edges must be positive")
    started = time.perf_counter()
    url = driver_url(settings.database_url, "psycopg").replace("postgresql+psycopg", "postgresql")
    with tqdm(
        total=len(STAGES), unit="stage", desc="importing friend graph", disable=not progress
    ) as bar:

        def stage(name: str) -> None:
            bar.set_postfix_str(name)

        stage(STAGES[0])
        graph = read_edges(path, limit_edges=limit_edges)
        bar.update()
        with psycopg.connect(url) as conn, conn.transaction():
            repo = GraphBulkRepository(conn)
            stage(STAGES[1])
            repo.create_staging()
            repo.copy_users((uid, f"{handle_prefix}{uid}") for uid in graph.users)
            repo.copy_edges(graph.edges)
            repo.analyze_staging()
            bar.update()
            stage(STAGES[2])
            created = repo.insert_accounts(password_hash=IMPORTED_PASSWORD_HASH)
            bar.update()
            stage(STAGES[3])
            mapped = repo.map_user_ids(password_hash=IMPORTED_PASSWORD_HASH)
            bar.update()
            stage(STAGES[4])
            inserted = repo.insert_friendships()
            bar.update()
    seconds = time.perf_counter() - started
    unmapped = len(graph.users) - mapped
    taken = f" ({unmapped} handles held by real accounts, their edges skipped)" if unmapped else ""
    return (
        f"friend graph {path.name}: {len(graph.users)} users, "
        f"{created} accounts created{taken}; "
        f"{len(graph.edges)} edges ({graph.lines} lines, {graph.duplicates} duplicates, "
        f"{graph.self_loops} self-loops dropped); {inserted} friendship rows inserted "
        f"(both directions); {seconds:.1f} s"
    )
