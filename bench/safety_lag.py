#!/usr/bin/env python3
"""Benchmark the priority lane (not a test): how long a safety report takes to reach every friend's
home timeline while ordinary check-ins saturate the fan-out. Loopback only, bounded in time.

Against `geo_bench_safety` (bench/build_fanout_db.sh with BENCH_DB=geo_bench_safety: the real
Liu 2017 Gowalla graph and the Gowalla NYC venues) and Redis DB 8, with `geo serve` (1 uvicorn
worker, workers not in process) and one `geo worker`:
  setup:  an emergency over a 3 km disc of Manhattan (written straight into the database) and
          REPORTERS graph accounts with 5..300 friends, each with a check-in at a venue inside it;
  rounds: ROUNDS times, interleaved:
          floor  - safety reports alone, RATE a second for IDLE_S seconds;
          loaded - the Gowalla replay (bench/fanout_client.py) closed loop at CONNS connections
                   (its maximum rate) for SECONDS, with safety reports at RATE a second beside it.
Lag: from the 201 to the moment the report is in the home timeline of its author and of every
friend (ZSCORE polled every POLL_S, as fanout_client.py does for check-ins). Prints a markdown
table of the medians over the rounds, each beside its floor as a ratio, and CPU per request.

    BENCH_SKIP_BUILD=1 .venv/bin/python bench/safety_lag.py
"""

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from procs import Proc  # bench/ is on the path when this script runs
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from geo.fanout import keys  # noqa: E402

PY = os.environ.get("PY", sys.executable)
DB = os.environ.get("BENCH_DB", "geo_bench_safety")
DB_URL = f"postgresql://postgres@127.0.0.1/{DB}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
PORT = int(os.environ.get("PORT", "8170"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
SECONDS = int(os.environ.get("STEP_SECONDS", "20"))
IDLE_S = float(os.environ.get("IDLE_S", "8"))
CONNS = int(os.environ.get("CONNS", "32"))
RATE = float(os.environ.get("RATE", "4"))
REPORTERS = int(os.environ.get("REPORTERS", "60"))
POLL_S = 0.02
ENV = {
    **os.environ,
    "DATABASE_URL": DB_URL,
    "REDIS_URL": REDIS_URL,
    "GEO_LOG_LEVEL": "WARNING",
    "GEO_RUN_WORKERS_IN_PROCESS": "false",
    "PYTHONPATH": str(ROOT),
}


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def setup() -> tuple[int, dict[int, list[int]]]:
    """The emergency and the reporters (each with their audience: themselves and their friends)."""
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE checkins, outbox, idempotency_keys, safety_reports, emergencies CASCADE"
        )
        emergency = conn.execute("""
            INSERT INTO emergencies (name, area) VALUES ('bench quake',
                ST_Buffer(ST_SetSRID(ST_MakePoint(-73.9855, 40.7580), 4326)::geography, 3000))
            RETURNING id""").fetchone()[0]
        reporters = conn.execute(
            """
            WITH picked AS (
                SELECT a.id FROM accounts a
                WHERE a.handle LIKE 'gw%%'
                  AND (SELECT count(*) FROM friendships f WHERE f.a_id = a.id) BETWEEN 5 AND 300
                ORDER BY md5(a.id::text) LIMIT %s),
            venue AS (
                SELECT p.id, p.position FROM places p, emergencies e
                WHERE e.id = %s AND ST_Covers(e.area, p.position) LIMIT 1),
            made AS (
                INSERT INTO checkins (author_id, place_id, position, accuracy_m, created_at)
                SELECT picked.id, venue.id, venue.position, 20, now() - interval '1 hour'
                FROM picked, venue RETURNING author_id)
            SELECT author_id FROM made""",
            (REPORTERS, emergency),
        ).fetchall()
        audiences = {}
        for (author,) in reporters:
            friends = conn.execute("SELECT b_id FROM friendships WHERE a_id = %s", (author,))
            audiences[author] = [author, *(r[0] for r in friends)]
    Redis.from_url(REDIS_URL).flushdb()
    return emergency, audiences


async def safety_load(
    emergency: int, audiences: dict[int, list[int]], seconds: float
) -> tuple[list[float], dict[int, int]]:
    """RATE reports a second for `seconds`; returns their lags (s) and the answers' statuses."""
    redis = AsyncRedis.from_url(REDIS_URL)
    authors, lags, statuses = list(audiences), [], {}
    waiting: dict[str, tuple[float, list[int]]] = {}
    done = asyncio.Event()

    async def watch() -> None:
        while not (done.is_set() and not waiting):
            await asyncio.sleep(POLL_S)
            batch = list(waiting.items())
            if not batch:
                continue
            async with redis.pipeline(transaction=False) as pipe:
                for report_id, (_, left) in batch:
                    for account in left:
                        pipe.zscore(keys.home(account), report_id)
                scores = iter(await pipe.execute())
            now = time.monotonic()
            for report_id, (created, left) in batch:
                still = [a for a in left if next(scores) is None]
                if still and now - created < 30:
                    waiting[report_id] = (created, still)
                    continue
                del waiting[report_id]
                lags.append(now - created if not still else float("inf"))

    async def post(http: httpx.AsyncClient, author: int) -> None:
        response = await http.post(
            f"/v1/emergencies/{emergency}/safety",
            json={"status": "safe", "message": "bench"},
            headers={
                "Authorization": f"Bearer bench-{author}",
                "Idempotency-Key": str(uuid.uuid4()),
            },
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code == 201:
            waiting[response.json()["id"]] = (time.monotonic(), audiences[author])

    watcher = asyncio.create_task(watch())
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", timeout=30) as http:
        posts, started, n = [], time.monotonic(), 0
        while time.monotonic() - started < seconds:
            posts.append(asyncio.create_task(post(http, authors[n % len(authors)])))
            n += 1
            await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))
        await asyncio.gather(*posts)
    done.set()
    await watcher
    await redis.aclose()
    return lags, statuses


def replay(seconds: int) -> subprocess.Popen:
    steps = [{"kind": "closed", "conns": CONNS, "seconds": seconds, "label": "max"}]
    cmd = [
        PY,
        str(ROOT / "bench/fanout_client.py"),
        f"http://127.0.0.1:{PORT}",
        DB_URL,
        REDIS_URL,
        json.dumps(steps),
    ]
    return subprocess.Popen(cmd, env=ENV, cwd=ROOT, stdout=subprocess.PIPE, text=True)


def loaded_round(emergency: int, audiences: dict[int, list[int]]) -> dict:
    client = replay(SECONDS)
    time.sleep(3)  # the replay reaches its maximum rate first
    lags, statuses = asyncio.run(safety_load(emergency, audiences, SECONDS - 5))
    out, _ = client.communicate(timeout=SECONDS + 120)
    ordinary = [json.loads(line) for line in out.splitlines() if line.startswith("{")][0]
    return {"lags": lags, "statuses": statuses, "ordinary": ordinary}


def summary(rounds: list[dict], floors: list[list[float]]) -> None:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    floor_p50 = med([1000 * pct(f, 0.5) for f in floors])
    floor_p99 = med([1000 * pct(f, 0.99) for f in floors])
    p50 = med([1000 * pct(r["lags"], 0.5) for r in rounds])
    p99 = med([1000 * pct(r["lags"], 0.99) for r in rounds])
    worst = max(1000 * max(r["lags"]) for r in rounds)
    o50 = med([r["ordinary"]["lag_p50_ms"] for r in rounds])
    o99 = med([r["ordinary"]["lag_p99_ms"] for r in rounds])
    rps = med([r["ordinary"]["rps"] for r in rounds])
    n = sum(len(r["lags"]) for r in rounds)
    print(f"\n### Safety-report lag under a saturating replay (medians of {len(rounds)} rounds)\n")
    print("| figure | p50 ms | p99 ms | p99 vs floor |")
    print("|---|---:|---:|---:|")
    print(f"| floor: safety reports alone | {floor_p50:.0f} | {floor_p99:.0f} | 1.00x |")
    print(
        f"| safety reports beside the replay ({n} reports, max {worst:.0f} ms) | {p50:.0f} | "
        f"{p99:.0f} | {p99 / floor_p99:.2f}x |"
    )
    print(
        f"| ordinary check-ins in the same rounds ({rps:.0f} check-ins/s, closed loop, "
        f"{CONNS} conns) | {o50:.0f} | {o99:.0f} | {o99 / floor_p99:.2f}x |"
    )
    statuses: dict[str, int] = {}
    for r in rounds:
        for code, count in r["statuses"].items():
            statuses[str(code)] = statuses.get(str(code), 0) + count
    print(
        f"\nSafety answers: {statuses}. Target: p99 <= 1000 ms: "
        f"{'met' if p99 <= 1000 else 'NOT met'}."
    )


def main() -> int:
    if not os.environ.get("BENCH_SKIP_BUILD"):
        subprocess.run(
            [str(ROOT / "bench/build_fanout_db.sh")],
            check=True,
            cwd=ROOT,
            timeout=900,
            env={**os.environ, "BENCH_DB": DB},
        )
    emergency, audiences = setup()
    log(f"emergency {emergency}, {len(audiences)} reporters")
    serve = [PY, "-m", "geo", "serve", "--port", str(PORT), "--workers", "1"]
    rounds, floors, cpu = [], [], {"api": 0.0, "worker": 0.0, "requests": 0}
    with (
        Proc(serve, env=ENV, cwd=ROOT, probe=f"http://127.0.0.1:{PORT}/healthz") as api,
        Proc([PY, "-m", "geo", "worker"], env=ENV, cwd=ROOT) as worker,
    ):
        # Warm-up (discarded): the worker process has started and made its consumer groups.
        asyncio.run(safety_load(emergency, audiences, 2))
        for i in range(ROUNDS):
            lags, statuses = asyncio.run(safety_load(emergency, audiences, IDLE_S))
            floors.append(lags)
            log(f"round {i} floor: p99 {1000 * pct(lags, 0.99):.0f} ms {statuses}")
            api_cpu, worker_cpu = api.cpu_seconds(), worker.cpu_seconds()
            result = loaded_round(emergency, audiences)
            cpu["api"] += api.cpu_seconds() - api_cpu
            cpu["worker"] += worker.cpu_seconds() - worker_cpu
            cpu["requests"] += result["ordinary"]["ok"] + len(result["lags"])
            rounds.append(result)
            log(
                f"round {i} loaded: safety p99 {1000 * pct(result['lags'], 0.99):.0f} ms, "
                f"ordinary p99 {result['ordinary']['lag_p99_ms']:.0f} ms {result['statuses']}"
            )
    summary(rounds, floors)
    print(
        f"\nCPU while loaded: `geo serve` {1000 * cpu['api'] / cpu['requests']:.2f} ms and "
        f"`geo worker` {1000 * cpu['worker'] / cpu['requests']:.2f} ms per request."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
