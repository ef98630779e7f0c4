#!/usr/bin/env python3
"""Benchmark the local public stream, GET /v1/timelines/public?lat&lon&radius_m (not a test).

Build (skipped with BENCH_SKIP_BUILD=1): database BENCH_DB (default geo_bench_locpriv) migrated
and seeded with the real venues of seed_data/, then TARGET (default 1,000,000) public check-ins
by 1,000 accounts at venues drawn uniformly from all seeded venues across Japan, precision 40 %
area / 40 % exact / 20 % city, each with the public position the service writes (venue or H3 cell
centre); inserted in chunks of CHUNK rows with the GiST index dropped, for at most BUILD_MAX_S
seconds (the row count reached is printed), then indexed and analysed.

Load: 1,000 query points = random seeded venues (so dense regions are queried as often as they
hold venues), radius 500 / 2,000 / 10,000 m in turn, limit 20, first page.
  full: `geo serve --workers 1` (in-process workers off) hit by wrk -t1 (bench/local_stream.lua)
  raw:  the same SQL (geo.checkins.repository.PUBLIC_NEAR) via pgbench -M prepared at the same
        points: the ceiling, no HTTP, no Python, no rendering
ROUNDS (3) rounds of full then raw for each CLIENTS count, DURATION s each; medians printed as a
markdown table with full/raw ratios and the server's CPU ms per request.
"""

import json
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from places_nearby import WRK_LINE, log  # noqa: E402
from procs import Proc  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from geo.checkins.repository import PUBLIC_NEAR  # noqa: E402
from geo.checkins.service import covering_cells, public_cells, public_point  # noqa: E402

DB = os.environ.get("BENCH_DB", "geo_bench_locpriv")
DB_URL = f"postgresql://postgres@127.0.0.1/{DB}"
TARGET = int(os.environ.get("TARGET", "1000000"))
CHUNK = int(os.environ.get("CHUNK", "100000"))
BUILD_MAX_S = float(os.environ.get("BUILD_MAX_S", "900"))
DURATION = int(os.environ.get("DURATION", "8"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
CLIENTS = [int(c) for c in os.environ.get("CLIENTS", "1 8").split()]
PORT = int(os.environ.get("FULL_PORT", "8120"))
RADII = [500, 2000, 10000]
POINTS = 1000
ENV = {
    **os.environ,
    "DATABASE_URL": DB_URL,
    "GEO_LOG_LEVEL": "WARNING",
    "GEO_RUN_WORKERS_IN_PROCESS": "false",
    "GEO_RATE_LIMIT_EXEMPT": "127.0.0.1",
}
BENCH = ROOT / "bench"


def get_token() -> str:
    body = {"handle": "bench" + secrets.token_hex(6), "password": secrets.token_hex(12)}
    req = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/v1/accounts",
        data=json.dumps({**body, "kind": "member"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(json.loads(resp.read())["token"])


def sh(cmd: list[str], timeout: float) -> str:
    return subprocess.run(
        cmd, check=True, capture_output=True, text=True, timeout=timeout, env=ENV, cwd=ROOT
    ).stdout


def build() -> None:
    with psycopg.connect("postgresql://postgres@127.0.0.1/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    sh([str(ROOT / ".venv/bin/geo"), "migrate"], 600)
    sh([str(ROOT / ".venv/bin/geo"), "seed", "--quiet"], 900)
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        conn.execute("""
            INSERT INTO accounts (handle, password_hash, kind)
            SELECT 'bench_author_' || g, 'x', 'member' FROM generate_series(1, 1000) g""")
        places = conn.execute(
            "SELECT id, ST_Y(position::geometry), ST_X(position::geometry) FROM places"
        ).fetchall()
        conn.execute("""CREATE UNLOGGED TABLE bench_pub (n int PRIMARY KEY, place_id bigint,
            elat float8, elon float8, alat float8, alon float8, clat float8, clon float8,
            e7 bigint, e5 bigint, a7 bigint, a5 bigint, c7 bigint, c5 bigint)""")
        with conn.cursor().copy("COPY bench_pub FROM STDIN") as copy:
            for n, (pid, lat, lon) in enumerate(places, 1):
                area = public_point(lat, lon, "area")
                city = public_point(lat, lon, "city")
                cells = [*public_cells(lat, lon), *public_cells(*area), *public_cells(*city)]
                copy.write_row((n, pid, lat, lon, *area, *city, *cells))
        log(f"{len(places)} venues; inserting up to {TARGET} public check-ins")
        for column in ("public_cell7", "public_cell5"):
            conn.execute(f"DROP INDEX IF EXISTS ix_checkins_{column}_id")
        started, done = time.monotonic(), 0
        while done < TARGET and time.monotonic() - started < BUILD_MAX_S:
            n = min(CHUNK, TARGET - done)
            conn.execute(_INSERT, {"n": n, "places": len(places)})
            done += n
            log(f"  {done} check-ins after {time.monotonic() - started:.0f} s")
        for column in ("public_cell7", "public_cell5"):
            conn.execute(f"""CREATE INDEX ix_checkins_{column}_id ON checkins
                ({column}, id DESC) WHERE {column} IS NOT NULL""")
        conn.execute("VACUUM ANALYZE checkins")
        log(f"built {done} check-ins in {time.monotonic() - started:.0f} s")


# One chunk: a random venue and precision per row, the public position as the service writes it.
_INSERT = """
    INSERT INTO checkins (author_id, place_id, position, accuracy_m, public, public_precision,
                          public_position, public_cell7, public_cell5, created_at)
    SELECT a.id, b.place_id, ST_SetSRID(ST_MakePoint(b.elon, b.elat), 4326)::geography, 20, true,
           r.prec,
           ST_SetSRID(CASE r.prec WHEN 'exact' THEN ST_MakePoint(b.elon, b.elat)
                                  WHEN 'area' THEN ST_MakePoint(b.alon, b.alat)
                                  ELSE ST_MakePoint(b.clon, b.clat) END, 4326)::geography,
           CASE r.prec WHEN 'exact' THEN b.e7 WHEN 'area' THEN b.a7 ELSE b.c7 END,
           CASE r.prec WHEN 'exact' THEN b.e5 WHEN 'area' THEN b.a5 ELSE b.c5 END,
           now()
    FROM (SELECT 1 + floor(random() * %(places)s)::int AS n,
                 1 + floor(random() * 1000)::int AS a,
                 CASE WHEN random() < 0.4 THEN 'area' WHEN random() < 0.667 THEN 'exact'
                      ELSE 'city' END AS prec
          FROM generate_series(1, %(n)s)) r
    JOIN bench_pub b ON b.n = r.n
    JOIN (SELECT id, row_number() OVER (ORDER BY id) AS k FROM accounts
          WHERE handle LIKE 'bench_author_%%') a ON a.k = r.a"""


def points() -> list[tuple[float, float, int]]:
    with psycopg.connect(DB_URL) as conn:
        venues = conn.execute(
            "SELECT ST_Y(position::geometry), ST_X(position::geometry) FROM places ORDER BY id"
        ).fetchall()
    rng = random.Random(42)
    return [(*rng.choice(venues), RADII[i % len(RADII)]) for i in range(POINTS)]


def write_scripts(
    pts: list[tuple[float, float, int]], tmp: Path, viewer: int
) -> tuple[Path, list[str]]:
    """The wrk script, and pgbench scripts (one per cell resolution, weighted as the points)."""
    rows = ",\n".join(f"{{{lat:.6f},{lon:.6f},{r}}}" for lat, lon, r in pts)
    lua = tmp / "local_stream.lua"
    lua.write_text((BENCH / "local_stream.lua").read_text().replace("--POINTS--", rows))
    by_res: dict[int, list[tuple]] = {}
    for lat, lon, r in pts:
        resolution, cells = covering_cells(lat, lon, r)
        by_res.setdefault(resolution, []).append((lat, lon, r, cells))
    scripts = []
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        for resolution, rows_at in by_res.items():
            table = f"bench_points{resolution}"
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"""CREATE TABLE {table} (id int PRIMARY KEY, lat float8, lon float8,
                radius float8, cells bigint[])""")
            with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                for i, row in enumerate(rows_at, 1):
                    copy.write_row((i, *row))
            values = {"v": str(viewer), "lat": "b.lat", "lon": "b.lon", "r": "b.radius"}
            values |= {"cells": "b.cells", "before": "NULL", "limit": "20"}
            sql = re.sub(
                r"(?<!:):(\w+)\b", lambda m, v=values: v[m.group(1)], PUBLIC_NEAR[resolution]
            )
            sql = re.sub(r"--[^\n]*", "", sql)
            pgb = tmp / f"local_stream{resolution}.pgbench"
            pgb.write_text(
                f"\\set i random(1, {len(rows_at)})\n"
                f"SELECT count(*) FROM (SELECT * FROM {table} WHERE id = :i) b "
                f"CROSS JOIN LATERAL ({' '.join(sql.split())}) q;\n"
            )
            scripts += ["-f", f"{pgb}@{len(rows_at)}"]
    return lua, scripts


def wrk(lua: Path, clients: int, seconds: int, token: str) -> dict:
    out = sh(
        [
            "wrk",
            "-t1",
            f"-c{clients}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(lua),
            f"http://127.0.0.1:{PORT}",
            "--",
            token,
        ],
        seconds + 30,
    )
    n, _, rps, p50, p99, non2xx, errs = WRK_LINE.search(out).groups()  # type: ignore[union-attr]
    return {
        "rps": float(rps),
        "p50": float(p50),
        "p99": float(p99),
        "n": int(n),
        "bad": int(non2xx) + int(errs),
    }


def pgbench(scripts: list[str], clients: int, seconds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [
                "pgbench",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-n",
                "-M",
                "prepared",
                "-c",
                str(clients),
                "-j",
                str(min(clients, 2)),
                "-T",
                str(seconds),
                *scripts,
                "-l",
                "--log-prefix",
                str(Path(tmp) / "pgb"),
                DB,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            env={**ENV, "PGOPTIONS": "-c jit=off"},
        ).stdout
        lat_us = [
            int(line.split()[2])
            for f in Path(tmp).glob("pgb*")
            for line in f.read_text().splitlines()
        ]
    q = statistics.quantiles(lat_us, n=100, method="inclusive")
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rps": tps, "p50": q[49] / 1000, "p99": q[98] / 1000, "n": len(lat_us), "bad": 0}


def main() -> int:
    if not os.environ.get("BENCH_SKIP_BUILD"):
        build()
    with psycopg.connect(DB_URL) as conn:
        count = conn.execute(
            "SELECT count(*) FROM checkins WHERE public_position IS NOT NULL"
        ).fetchone()[0]
    pts = points()
    results: dict[tuple[str, int], list[dict]] = {}
    cmd = [str(ROOT / ".venv/bin/geo"), "serve", "--port", str(PORT), "--workers", "1"]
    with (
        tempfile.TemporaryDirectory() as tmp,
        Proc(cmd, env=ENV, cwd=ROOT, probe=f"http://127.0.0.1:{PORT}/healthz") as server,
    ):
        token = get_token()
        with psycopg.connect(DB_URL) as conn:
            viewer = conn.execute("SELECT max(id) FROM accounts").fetchone()[0]
        lua, pgb = write_scripts(pts, Path(tmp), viewer)
        wrk(lua, max(CLIENTS), 3, token)  # warm-up: pools, caches, buffers
        pgbench(pgb, max(CLIENTS), 3)
        for round_no in range(ROUNDS):
            for c in CLIENTS:
                cpu = server.cpu_seconds()
                full = wrk(lua, c, DURATION, token)
                full["cpu_ms"] = 1000 * (server.cpu_seconds() - cpu) / max(full["n"], 1)
                raw = pgbench(pgb, c, DURATION)
                results.setdefault(("full", c), []).append(full)
                results.setdefault(("raw", c), []).append(raw)
                log(f"round {round_no + 1} c={c}: full {full} raw {raw}")
    med = {k: {f: statistics.median(r[f] for r in v) for f in v[0]} for k, v in results.items()}
    print(f"\n{count} public check-ins in {DB}; {ROUNDS} rounds x {DURATION} s, medians\n")
    print(
        "| clients | full req/s | full p50 ms | full p99 ms | full CPU ms/req | raw SQL tx/s "
        "| raw p50 ms | raw p99 ms | full/raw req/s | full/raw p50 |"
    )
    print("|" + "---:|" * 10)
    for c in CLIENTS:
        f, r = med[("full", c)], med[("raw", c)]
        print(
            f"| {c} | {f['rps']:.0f} | {f['p50']:.1f} | {f['p99']:.1f} | {f['cpu_ms']:.2f} | "
            f"{r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {f['rps'] / r['rps']:.2f}x | "
            f"{f['p50'] / r['p50']:.1f}x |"
        )
    if any(f["bad"] for (kind, _), v in results.items() for f in v if kind == "full"):
        print("\nWARNING: non-2xx or socket errors in the full runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
