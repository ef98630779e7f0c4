#!/usr/bin/env python3
"""Benchmark check-in ingest and fan-out end to end (not a test). Loopback only, bounded in time.

Against `geo_bench_fanout` (bench/build_fanout_db.sh) and Redis DB 11, in one run:
  ceilings: raw pipelined ZADD+ZREMRANGEBYRANK pairs from Python (pipelines of 100 and 1,000);
            the bare FastAPI endpoint (bench/bare_app.py `POST /v1/checkins`), closed loop;
  ingest:   `geo serve` (1 uvicorn worker, relay and fan-out NOT in process) + FANOUT_WORKERS
            `geo worker` processes, driven by bench/fanout_client.py (a separate process): a closed
            loop at CONNS connections (the maximum rate), then open-loop steps at fractions of that
            maximum and at 500/s, then one step with a 16,585-follower account checking in every
            CELEB_EVERY_S seconds;
  drain:    BACKLOG check-ins of random graph accounts written straight into checkins + outbox
            while the workers are stopped; then the workers start and the time from the first
            delivery to the last gives the fan-out's deliveries/s (start-up reported apart).
Prints markdown tables.

    bench/fanout_replay.sh                     # builds geo_bench_fanout, then runs
    BENCH_SKIP_BUILD=1 bench/fanout_replay.sh  # reuse it (check-ins and Redis DB 11 are reset)
    GEO_CODE=/tmp/geo-before BENCH_SKIP_BUILD=1 bench/fanout_replay.sh  # another commit's geo
"""

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from procs import Proc  # bench/ is on the path when this script runs
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

ROOT = Path(__file__).resolve().parent.parent
PY = os.environ.get("PY", sys.executable)
DB = os.environ.get("BENCH_DB", "geo_bench_fanout")
DB_URL = f"postgresql://postgres@127.0.0.1/{DB}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
FULL_PORT, BARE_PORT = int(os.environ.get("PORT", "8110")), int(os.environ.get("PORT", "8110")) + 1
SECONDS = int(os.environ.get("STEP_SECONDS", "20"))
CONNS = int(os.environ.get("CONNS", "32"))
FRACTIONS = [float(f) for f in os.environ.get("FRACTIONS", "0.25 0.5 0.75 1.0").split()]
FANOUT_WORKERS = int(os.environ.get("FANOUT_WORKERS", "1"))
CELEB_EVERY_S = float(os.environ.get("CELEB_EVERY_S", "5"))
BACKLOG = int(os.environ.get("BACKLOG", "5000"))
# PHASES="ingest drain" with ONLY_MAX=1: the quick A/B form (no ceilings, only the closed loop).
PHASES = os.environ.get("PHASES", "ceilings ingest drain").split()
ONLY_MAX = bool(os.environ.get("ONLY_MAX"))
CPU: dict[str, float] = {}
ENV = {
    **os.environ,
    "DATABASE_URL": DB_URL,
    "REDIS_URL": REDIS_URL,
    "GEO_LOG_LEVEL": "WARNING",
    "GEO_RUN_WORKERS_IN_PROCESS": "false",
    # A benchmark is a dev setup (the public secret is fine) and an operator's load test: its
    # loopback clients skip the per-address sign-up limits (GEO_RATE_LIMIT_EXEMPT).
    "GEO_ALLOW_DEV_SECRET": "true",
    "GEO_RATE_LIMIT_EXEMPT": "127.0.0.1,::1",
    # GEO_CODE: another checkout's root to benchmark its `geo` (e.g. an older commit).
    "PYTHONPATH": os.environ.get("GEO_CODE", str(ROOT)),
}
CODE = Path(ENV["PYTHONPATH"])


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


def cpu_s(procs: list[Proc]) -> float:
    """User + system CPU seconds used so far by these processes' groups (Linux /proc)."""
    return sum(p.cpu_seconds() for p in procs)


# geo.fanout.keys.EPOCH: a Redis without it lost its data, and the first worker rebuilds the
# feeds of every account active in the last day (every backlog author) before anything else.
EPOCH_KEY = "fanout:{events}:epoch"


def reset() -> None:
    """No check-ins, an empty Redis that did not lose data (its epoch is set): the workers were
    stopped, Redis kept its data, so the measurement is the fan-out, not a recovery."""
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        conn.execute("TRUNCATE checkins, outbox, idempotency_keys")
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    redis.set(EPOCH_KEY, int(time.time() * 1000))


async def raw_zadd(pipeline: int, seconds: float = 3.0) -> float:
    """ZADD + trim pairs per second, pipelined, on timeline-shaped keys of 16,584 accounts."""
    redis = AsyncRedis.from_url(REDIS_URL)
    rng, pairs, member = random.Random(1), 0, 10**15
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        async with redis.pipeline(transaction=False) as pipe:
            for _ in range(pipeline):
                key, member = f"bench:tl:{{u{rng.randrange(16584)}}}:home", member + 1
                pipe.zadd(key, {str(member): member})
                pipe.zremrangebyrank(key, 0, -801)
            await pipe.execute()
        pairs += pipeline
    rate = pairs / (time.perf_counter() - started)
    await redis.flushdb()
    await redis.aclose()
    return rate


def client(port: int, steps: list[dict], redis_url: str = REDIS_URL) -> list[dict]:
    cmd = [
        PY,
        str(ROOT / "bench/fanout_client.py"),
        f"http://127.0.0.1:{port}",
        DB_URL,
        redis_url,
        json.dumps(steps),
    ]
    out = subprocess.run(
        cmd,
        check=True,
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,
        timeout=60 + sum(s["seconds"] + s.get("drain_s", 60) for s in steps),
    )
    results = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    for r in results:
        log(json.dumps(r))
    return results


def workers() -> list[Proc]:
    return [Proc([PY, "-m", "geo", "worker"], env=ENV, cwd=CODE) for _ in range(FANOUT_WORKERS)]


def write_backlog() -> tuple[int, int, int]:
    """BACKLOG public check-ins by random graph accounts, with their outbox rows, in one go;
    returns (events, deliveries, author of the first check-in)."""
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        conn.execute("SELECT setseed(0.7)")
        row = conn.execute(
            """
            WITH authors AS (
                SELECT a.id, (SELECT id FROM places WHERE source = 'gowalla-nyc' LIMIT 1) AS place
                FROM accounts a, generate_series(1, 1) WHERE a.handle LIKE 'gw%%'
                ORDER BY random() LIMIT %s),
            made AS (
                INSERT INTO checkins (author_id, place_id, position, accuracy_m, public)
                SELECT a.id, a.place, p.position, 20, true FROM authors a
                JOIN places p ON p.id = a.place RETURNING id, author_id),
            events AS (
                INSERT INTO outbox (topic, payload)
                SELECT 'checkin.created', jsonb_build_object('checkin_id', id::text)
                FROM made ORDER BY id RETURNING 1)
            SELECT (SELECT count(*) FROM events),
                   (SELECT sum(1 + (SELECT count(*) FROM follows f
                                    WHERE f.followee_id = made.author_id)) FROM made),
                   (SELECT author_id FROM made ORDER BY id LIMIT 1)""",
            (BACKLOG,),
        ).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def drained(redis: Redis, conn: psycopg.Connection) -> bool:
    """Nothing unrelayed, and nothing unread or unacknowledged in either fan-out stream."""
    unsent = conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
    groups = [
        redis.xinfo_groups(s)[0]
        for s in ("fanout:{events}", "fanout:{events}:bulk")
        if redis.exists(s)
    ]
    return unsent == 0 and bool(groups) and all(g["pending"] == 0 and not g["lag"] for g in groups)


# The worker's batch: the first pipeline of ZADD+trim pairs lands at once, when the first
# timeline appears; the rate from then on counts the deliveries after it.
FIRST_PIPELINE = 500


def drain_phase() -> dict:
    """The backlog drained by FANOUT_WORKERS fresh workers. The rate runs from the first delivery
    (the first check-in's author's timeline appears, with the first pipeline of FIRST_PIPELINE
    pairs) to the last (all acknowledged); start-up (process start, imports, pools, the first
    relay and batch up to that pipeline) is reported apart, and so is the rate with it."""
    reset()
    events, deliveries, first_author = write_backlog()
    first_key = f"tl:{{u{first_author}}}:home"
    redis = Redis.from_url(REDIS_URL)
    conn = psycopg.connect(DB_URL, autocommit=True)
    started = time.monotonic()
    procs = workers()
    for p in procs:
        p.__enter__()
    try:
        cpu = cpu_s(procs)
        while not redis.exists(first_key) and time.monotonic() - started < 60:
            time.sleep(0.002)
        first = time.monotonic()
        cpu_first = cpu_s(procs)
        while not drained(redis, conn) and time.monotonic() - started < 300:
            time.sleep(0.02)
        last = time.monotonic()
        cpu_last = cpu_s(procs)
        CPU["drain_worker_us_per_delivery"] = (
            1e6 * (cpu_last - cpu_first) / (deliveries - FIRST_PIPELINE)
        )
        CPU["drain_startup_cpu_s"] = cpu_first - cpu
    finally:
        for p in procs:
            p.__exit__()
        conn.close()
    return {
        "events": events,
        "deliveries": deliveries,
        "startup_s": first - started,
        "seconds": last - first,
        "deliveries_per_s": (deliveries - FIRST_PIPELINE) / (last - first),
        "with_startup_per_s": deliveries / (last - started),
    }


def ingest_phase() -> list[dict]:
    reset()
    steps = [{"kind": "closed", "conns": CONNS, "seconds": SECONDS, "label": "max"}]
    if not ONLY_MAX:
        steps += [
            {"kind": "open", "fraction": f, "seconds": SECONDS, "label": f"{f:g}x max"}
            for f in FRACTIONS
        ]
        steps += [
            {"kind": "open", "rate": 500, "seconds": min(SECONDS, 10), "label": "500/s target"}
        ]
        steps += [
            {
                "kind": "open",
                "fraction": 0.5,
                "seconds": SECONDS,
                "celebrity_every_s": CELEB_EVERY_S,
                "label": "0.5x max + big account",
            }
        ]
    serve = [PY, "-m", "geo", "serve", "--port", str(FULL_PORT), "--workers", "1"]
    with Proc(serve, env=ENV, cwd=CODE, probe=f"http://127.0.0.1:{FULL_PORT}/healthz") as api:
        procs = workers()
        for p in procs:
            p.__enter__()
        try:
            api_cpu, worker_cpu = cpu_s([api]), cpu_s(procs)
            results = client(FULL_PORT, steps)
            api_cpu, worker_cpu = cpu_s([api]) - api_cpu, cpu_s(procs) - worker_cpu
        finally:
            for p in procs:
                p.__exit__()
    created = sum(r["ok"] for r in results)
    delivered = sum(r["deliveries"] for r in results)
    CPU.update(
        api_ms_per_checkin=1000 * api_cpu / created,
        worker_us_per_delivery=1e6 * worker_cpu / delivered,
    )
    return results


def bare_phase() -> dict:
    reset()
    bare = [
        PY,
        "-m",
        "uvicorn",
        "bench.bare_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(BARE_PORT),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with Proc(
        bare,
        env=ENV,
        cwd=ROOT,
        probe=f"http://127.0.0.1:{BARE_PORT}/v1/places/nearby?lat=40.7&lon=-74",
    ):
        return client(BARE_PORT, [{"kind": "closed", "conns": CONNS, "seconds": 10}], "-")[0]


def report(raw: dict[int, float], bare: dict, steps: list[dict], drain: dict) -> None:
    best_raw = max(raw.values())
    print("\n### Ceilings (same run)\n\n| ceiling | rate |\n|---|---:|")
    for size, rate in raw.items():
        print(f"| raw ZADD+trim pairs, pipelines of {size:,} | {rate:,.0f}/s |")
    print(
        f"| bare FastAPI `POST /v1/checkins`, {CONNS} connections | {bare['rps']:,.0f} req/s "
        f"(p50 {bare['p50_ms']:.1f} ms, p99 {bare['p99_ms']:.1f} ms) |"
    )
    print("\n### Ingest through HTTP, fan-out by the real graph\n")
    print(
        "| step | offered/s | 201/s | vs bare | other answers | p50 ms | p99 ms | deliveries/s "
        "| vs raw | lag p50 ms | lag p99 ms | lag max ms | big-account lag (n, max ms) |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for s in steps:
        other = {k: v for k, v in s["statuses"].items() if k != "201"}
        offered = f"{s['offered']:.0f}" if s["offered"] else f"closed, {s['conns']} conns"
        big = f"{s['big']}, {s['big_lag_max_ms']:.0f}" if s["big"] else "-"
        print(
            f"| {s['label']} | {offered} | {s['rps']:.0f} | {s['rps'] / bare['rps']:.2f}x | "
            f"{other or '-'} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | "
            f"{s['deliveries_per_s']:,.0f} | {s['deliveries_per_s'] / best_raw:.2f}x | "
            f"{s['lag_p50_ms']:.0f} | {s['lag_p99_ms']:.0f} | {s['lag_max_ms']:.0f} | {big} |"
        )
    print(f"\n### Fan-out of a backlog ({FANOUT_WORKERS} `geo worker`)\n")
    print(
        f"{drain['events']:,} check-ins, {drain['deliveries']:,} deliveries in "
        f"{drain['seconds']:.1f} s from the first delivery to the last (start-up before it "
        f"{drain['startup_s']:.1f} s): **{drain['deliveries_per_s']:,.0f} deliveries/s**, "
        f"{drain['deliveries_per_s'] / best_raw:.2f}x the best raw pipeline rate "
        f"({best_raw:,.0f}/s)."
    )
    print(
        f"\nCPU: `geo serve` {CPU['api_ms_per_checkin']:.2f} ms per check-in; `geo worker` "
        f"{CPU['worker_us_per_delivery']:.0f} us per delivery while ingesting (relay included), "
        f"{CPU['drain_worker_us_per_delivery']:.0f} us per delivery draining the backlog."
    )


def main() -> int:
    if not os.environ.get("BENCH_SKIP_BUILD"):
        log("building the database (bench/build_fanout_db.sh)")
        subprocess.run(
            [str(ROOT / "bench/build_fanout_db.sh")],
            check=True,
            cwd=ROOT,
            timeout=600,
            env={**os.environ, "BENCH_DB": DB},
        )
    reset()
    if "ceilings" in PHASES:
        raw = {size: asyncio.run(raw_zadd(size)) for size in (100, 1000)}
        log(f"raw ZADD+trim pairs/s: {raw}")
        bare = bare_phase()
    steps = ingest_phase() if "ingest" in PHASES else []
    drain = drain_phase() if "drain" in PHASES else {}
    log(f"drain: {drain}; CPU: {CPU}")
    if "ceilings" in PHASES:
        report(raw, bare, steps, drain)
    return 0


if __name__ == "__main__":
    sys.exit(main())
