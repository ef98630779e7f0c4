#!/usr/bin/env python3
"""The hot paths beside their floors, interleaved A/B in one run (not a test). Loopback only.

Servers (all started once per worker count, so every A/B leg hits a warm server):
  app      `geo serve`, ads off            (GEO_ADS_ENABLED=false)
  app+ads  `geo serve`, ads on             (10,000 live campaigns over Tokyo, ads_decision.py's)
  floor    bench/bare_app.py: FastAPI + asyncpg, the same SQL texts, no SQLAlchemy
All with the same worker count and pool size, no in-process workers (the fan-out and ledger
loops are benchmarked on their own), a token cache of 60 s, Redis BENCH_REDIS_URL (DB 10; its ad
leases are kept between runs, so a second run's priming is quick).

Parts (PARTS, default "nearby ads ingest"):
  nearby  GET /v1/places/nearby (radius 1000 m, limit 20, a random one of VIEWERS viewers, each
          around their own home in Tokyo: bench/nearby_viewers.lua)
          app vs floor at 1 and 32 connections (CLIENTS)
  ads     app+ads vs app at 1 connection
  ingest  POST /v1/checkins (bench/checkins.lua: each request the next of N_AUTHORS authors at
          their own place) app vs floor at 32 connections (the maximum rate), then both at an
          offered half of the app's median maximum (4 connections, each pausing between
          requests; the rate reached is reported)
Each cell runs ROUNDS times (default 3), legs alternating A,B,B,A,..., DURATION s each; the
table gives medians and the server's CPU per request (its process group's user+system time).

    BENCH_DB=geo_bench .venv/bin/python bench/hot_paths.py          # WORKERS="1 2"
"""

import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from procs import Proc  # bench/ is on the path when this script runs

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
DB = os.environ.get("BENCH_DB", "geo_bench")
DB_URL = f"postgresql://postgres@127.0.0.1/{DB}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
PARTS = os.environ.get("PARTS", "nearby ads ingest").split()
WORKERS = [int(w) for w in os.environ.get("WORKERS", "1 2").split()]
CLIENTS = [int(c) for c in os.environ.get("CLIENTS", "1 32").split()]
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = int(os.environ.get("DURATION", "8"))
WARMUP = int(os.environ.get("WARMUP", "8"))
N_AUTHORS = int(os.environ.get("N_AUTHORS", "8000"))
BASE_PORT = int(os.environ.get("BASE_PORT", "8160"))
# Viewers of the nearby legs, each around their own home (bench/nearby_viewers.lua): enough that
# each makes fewer than the ads' 60 decisions a minute at the app's rate, as real people do.
VIEWERS = int(os.environ.get("VIEWERS", "2000"))
PRIME = os.environ.get("PRIME", "1") == "1"  # lease every campaign's first chunk before the legs
ENV = {
    **os.environ,
    "DATABASE_URL": DB_URL,
    "REDIS_URL": REDIS_URL,
    "GEO_LOG_LEVEL": "WARNING",
    "GEO_RUN_WORKERS_IN_PROCESS": "false",
    # The floor's token cache never expires; 15 minutes (longer than a run's legs) keeps the
    # app's a cache hit too once warm, so both pay the token lookup once per viewer. Revocation
    # is still checked on every request by both (one HMGET).
    "GEO_TOKEN_CACHE_SECONDS": "900",
    # The bench's accounts are minutes old: the ads' young-account rule (a comparison in the
    # process, no I/O) would leave every decision unserved. The rate and speed rules stay on.
    "GEO_ADS_MIN_ACCOUNT_AGE_S": "0",
    # Every server of a run is up at once and PostgreSQL allows 100 connections: 12 per pool
    # (the floor's one pool, the app's session, read and write pools) keeps the worst case, two
    # workers each of app and floor after nearby and check-in legs, at ~76. With the defaults
    # (32 + 16 + 16 per app worker, 32 per floor worker) the 2-worker check-in legs ran out.
    "GEO_DB_POOL_SIZE": os.environ.get("GEO_DB_POOL_SIZE", "12"),
    "GEO_DB_READ_POOL_SIZE": os.environ.get("GEO_DB_READ_POOL_SIZE", "12"),
    "GEO_DB_WRITE_POOL_SIZE": os.environ.get("GEO_DB_WRITE_POOL_SIZE", "12"),
    "PYTHONPATH": str(ROOT),
}
WRK_LINE = re.compile(
    r"BENCH requests=(\d+) seconds=([\d.]+) rps=([\d.]+) p50_ms=([\d.]+) "
    r"p99_ms=([\d.]+) non2xx=(\d+) socket_errors=(\d+)"
)
AUTHORS_SQL = """
INSERT INTO accounts (handle, password_hash, kind)
SELECT 'hp-' || n, 'x', 'member' FROM generate_series(1, {n}) n ON CONFLICT DO NOTHING;
INSERT INTO account_tokens (token_hash, account_id, expires_at)
SELECT sha256(convert_to('hp-token-' || substr(a.handle, 4), 'UTF8')), a.id,
       now() + interval '30 days'
FROM accounts a WHERE a.handle LIKE 'hp-%'
ON CONFLICT (token_hash) DO UPDATE SET expires_at = EXCLUDED.expires_at;
COPY (
  SELECT 'hp-token-' || n, p.id, ST_Y(p.position::geometry), ST_X(p.position::geometry)
  FROM generate_series(1, {n}) n
  JOIN (SELECT id, position, row_number() OVER (ORDER BY id) AS k FROM places
        WHERE ST_X(position::geometry) BETWEEN 139.5 AND 139.95
          AND ST_Y(position::geometry) BETWEEN 35.5 AND 35.85) p ON p.k = n
) TO STDOUT WITH (DELIMITER ' ')
"""


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


def psql(sql: str) -> str:
    return subprocess.run(
        [
            "psql",
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            DB,
        ],
        input=sql,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout


def wrk(port: int, script: str, clients: int, seconds: int, args: list[str]) -> dict:
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s"]
    cmd += ["-s", str(BENCH / script), f"http://127.0.0.1:{port}", "--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    m = WRK_LINE.search(out)
    if not m:
        raise RuntimeError(f"no BENCH line in wrk output:\n{out}")
    n, _, rps, p50, p99, non2xx, errs = m.groups()
    bad = int(non2xx) + int(errs)
    return {"n": int(n), "rps": float(rps), "p50": float(p50), "p99": float(p99), "bad": bad}


def leg(server: Proc, port: int, script: str, clients: int, args: list[str]) -> dict:
    before = server.cpu_seconds()
    result = wrk(port, script, clients, DURATION, args)
    result["cpu_ms"] = 1000 * (server.cpu_seconds() - before) / max(result["n"], 1)
    log(f"port {port} {script} c={clients} {args[1:2]}: {result}")
    return result


def ab(a: tuple, b: tuple, script: str, clients: int, args: list[str]) -> tuple[list, list]:
    """ROUNDS legs each, alternating A,B then B,A, so the box's drift hits both alike."""
    legs_a, legs_b = [], []
    for r in range(ROUNDS):
        order = [(a, legs_a), (b, legs_b)]
        for (server, port), legs in order if r % 2 == 0 else order[::-1]:
            legs.append(leg(server, port, script, clients, args))
    return legs_a, legs_b


def median(legs: list[dict], key: str) -> float:
    return statistics.median(x[key] for x in legs)


def row(label: str, a: list, b: list) -> str:
    ma = {k: median(a, k) for k in ("rps", "p50", "p99", "cpu_ms")}
    mb = {k: median(b, k) for k in ("rps", "p50", "p99", "cpu_ms")}
    bad = sum(x["bad"] for x in a + b)
    return (
        f"| {label} | {ma['rps']:.0f} | {ma['p50']:.1f} | {ma['p99']:.1f} | {ma['cpu_ms']:.2f} | "
        f"{mb['rps']:.0f} | {mb['p50']:.1f} | {mb['p99']:.1f} | {mb['cpu_ms']:.2f} | "
        f"**{ma['rps'] / max(mb['rps'], 1e-9):.2f}x** | {ma['p99'] / max(mb['p99'], 1e-9):.2f}x | "
        f"{ma['p99'] - mb['p99']:+.1f} | {bad} |"
    )


HEADER = (
    "| cell | A req/s | A p50 ms | A p99 ms | A CPU ms/req | B req/s | B p50 ms | B p99 ms | "
    "B CPU ms/req | A/B req/s | A/B p99 | p99 A-B ms | non-2xx |\n|---|" + "---:|" * 12
)


def ensure_data(tmp: Path) -> tuple[Path, list[str]]:
    from ads_decision import ensure_campaigns

    from geo.ads.decision import AdsEngine
    from geo.core.config import Settings
    from geo.core.db import create_database
    from geo.core.redis import create_redis

    lines = psql(AUTHORS_SQL.format(n=N_AUTHORS)).strip().splitlines()
    authors = tmp / "authors.txt"
    authors.write_text("\n".join(lines) + "\n")
    log(f"{len(lines)} check-in authors")

    async def campaigns() -> tuple[int, int]:
        settings = Settings(database_url=DB_URL, redis_url=REDIS_URL)
        db, redis = create_database(settings), create_redis(settings)
        try:
            count = await ensure_campaigns(db) if "ads" in PARTS else 0
            engine = AdsEngine.create(db, redis, settings)
            primed = await engine.prime(concurrency=16) if count and PRIME else 0
            return count, primed
        finally:
            await redis.aclose()
            await db.dispose()

    count, primed = asyncio.run(campaigns())
    log(f"campaigns (live) / primed: {count} / {primed}")
    return authors, [line.split()[0] for line in lines[:VIEWERS]]


def servers(w: int, port: int, name: str) -> Proc:
    if name == "floor":
        cmd = [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--workers", str(w), "--log-level", "warning"]
        cmd += ["--no-access-log"]
        probe = f"http://127.0.0.1:{port}/healthz"
        return Proc(cmd, env=ENV, cwd=ROOT, probe=probe, timeout_s=180)
    env = {**ENV, "GEO_ADS_ENABLED": "true" if name == "app+ads" else "false"}
    cmd = [sys.executable, "-m", "geo", "serve", "--port", str(port), "--workers", str(w)]
    return Proc(cmd, env=env, cwd=ROOT, probe=f"http://127.0.0.1:{port}/healthz", timeout_s=180)


def _answered(name: str, warmup: dict) -> None:
    """A server that answers its warm-up with errors would be measured answering errors."""
    if warmup["bad"] > warmup["n"] // 100:
        raise RuntimeError(f"{name}: {warmup['bad']} of {warmup['n']} warm-up requests failed")


def run_workers(w: int, authors: Path, viewers: list[str], out: list[str], raw: dict) -> None:
    names = ["app", "floor"] + (["app+ads"] if "ads" in PARTS and w == 1 else [])
    procs = {n: servers(w, BASE_PORT + 10 * w + k, n) for k, n in enumerate(names)}
    ports = {n: BASE_PORT + 10 * w + k for k, n in enumerate(names)}
    started = []
    try:
        for p in procs.values():
            p.__enter__()
            started.append(p)
        s = {n: (procs[n], ports[n]) for n in names}
        for n in names:  # warm pools, statement caches, the ads index and leases
            _answered(n, wrk(ports[n], "nearby_viewers.lua", 8, WARMUP, viewers))
        if "nearby" in PARTS:
            for c in CLIENTS:
                a, b = ab(s["app"], s["floor"], "nearby_viewers.lua", c, viewers)
                raw[f"nearby w={w} c={c}"] = (a, b)
                out.append(row(f"nearby, {w} worker(s), {c} conn: app (A) / floor (B)", a, b))
        if "ads" in PARTS and w == 1:
            a, b = ab(s["app+ads"], s["app"], "nearby_viewers.lua", 1, viewers)
            raw["ads c=1"] = (a, b)
            out.append(row("nearby, 1 worker, 1 conn: ads on (A) / ads off (B)", a, b))
        if "ingest" in PARTS:
            args = [str(authors), "0"]
            for n in ("app", "floor"):
                _answered(n, wrk(ports[n], "checkins.lua", 8, WARMUP, args))
            a, b = ab(s["app"], s["floor"], "checkins.lua", 32, args)
            raw[f"ingest w={w} c=32"] = (a, b)
            out.append(row(f"check-in, {w} worker(s), 32 conn (max): app (A) / floor (B)", a, b))
            half = max(median(a, "rps") / 2, 1.0)
            pause_ms = str(round(4 * 1000 / half))
            a, b = ab(s["app"], s["floor"], "checkins.lua", 4, [str(authors), pause_ms])
            raw[f"ingest w={w} half"] = (a, b)
            out.append(
                row(
                    f"check-in, {w} worker(s), offered ~{half:.0f}/s (4 conn, {pause_ms} ms "
                    "pause): app (A) / floor (B)",
                    a,
                    b,
                )
            )
    finally:
        for p in started:
            p.__exit__()


def main() -> int:
    places = psql("SELECT count(*) FROM places").strip()
    with tempfile.TemporaryDirectory() as tmp:
        authors, viewers = ensure_data(Path(tmp))
        out: list[str] = []
        raw: dict = {}
        for w in WORKERS:
            run_workers(w, authors, viewers, out, raw)
    print(
        f"\n{DB}: {places} places; {ROUNDS} rounds x {DURATION} s per leg, wrk -t1, medians; "
        f"ports {BASE_PORT}+; shared 2-core box\n"
    )
    print(HEADER)
    print("\n".join(out))
    scaling = []
    for key in ("nearby", "ingest"):
        c = f"c={max(CLIENTS)}" if key == "nearby" else "c=32"
        one, two = raw.get(f"{key} w=1 {c}"), raw.get(f"{key} w=2 {c}")
        if one and two:
            for i, who in enumerate(("app", "floor")):
                r1, r2 = median(one[i], "rps"), median(two[i], "rps")
                scaling.append(f"| {key} {c}, {who} | {r1:.0f} | {r2:.0f} | {r2 / r1:.2f}x |")
    if scaling:
        print("\n| scaling | 1 worker req/s | 2 workers req/s | 2/1 |\n|---|---:|---:|---:|")
        print("\n".join(scaling))
    Path(os.environ.get("BENCH_JSON", "/tmp/hot_paths.json")).write_text(json.dumps(raw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
