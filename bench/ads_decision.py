#!/usr/bin/env python3
"""Benchmark the ad decision (not a test). Loopback only; uses its own database and Redis DB.

1. Ensures BENCH_DB (default geo_bench_ads: `geo migrate && geo seed`) holds N_CAMPAIGNS (10,000)
   live campaigns over Tokyo, each around a real seeded venue (radius 200 m-3 km, log-uniform;
   5% polygon targets; 10% with categories; budgets large enough not to run out).
2. In-process: AdsEngine.decide() at random Tokyo points for random viewers: p50/p99, candidates
   per point, and the STRtree lookup alone; beside it the raw Redis EVAL of the same charge
   script in a Python loop (the ceiling of one charge) and redis-benchmark's EVAL rate.
3. HTTP: `geo serve` (1 worker) hit by wrk (bench/nearby_viewers.lua: VIEWERS accounts) with
   ads on and off
   (GEO_ADS_ENABLED), same run, same settings: the p99 the ads add to /v1/places/nearby.

    PYTHONPATH=. .venv/bin/python bench/ads_decision.py
"""

import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from geo.ads import keys  # noqa: E402
from geo.ads.decision import AdsEngine, new_impression_id  # noqa: E402
from geo.core.config import Settings  # noqa: E402
from geo.core.db import create_database  # noqa: E402
from geo.core.redis import create_redis  # noqa: E402

DB = os.environ.get("BENCH_DB", "geo_bench_ads")
DB_URL = f"postgresql://postgres@127.0.0.1:5432/{DB}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
N_CAMPAIGNS = int(os.environ.get("N_CAMPAIGNS", "10000"))
N_DECISIONS = int(os.environ.get("N_DECISIONS", "3000"))
DURATION = int(os.environ.get("DURATION", "10"))
CLIENTS = [int(c) for c in os.environ.get("CLIENTS", "1 8").split()]
ROUNDS = int(os.environ.get("ROUNDS", "2"))
VIEWERS = int(os.environ.get("VIEWERS", "200"))
# Fresh sign-ups hammering random points would all be invalid traffic (geo/ads/traffic.py): the
# rules stay on the path (their Redis call is measured) but let every request through.
TRAFFIC_RULES_PASS = {
    "GEO_ADS_MIN_ACCOUNT_AGE_S": "0",
    "GEO_ADS_MAX_DECISIONS_PER_MINUTE": "0",
    "GEO_ADS_MAX_SPEED_KMH": "0",
}
PORT = 8090
BOX = (139.5, 35.5, 139.95, 35.85)

SEED_SQL = """
INSERT INTO accounts (handle, password_hash, kind) VALUES ('bench-ads-owner', 'x', 'business')
ON CONFLICT DO NOTHING;
WITH venues AS (
    SELECT id, position, row_number() OVER (ORDER BY random()) AS k FROM places
    WHERE ST_X(position::geometry) BETWEEN 139.5 AND 139.95
      AND ST_Y(position::geometry) BETWEEN 35.5 AND 35.85),
picked AS (
    SELECT v.id, v.position, (200 * power(15, random()))::int AS r, random() AS u
    FROM generate_series(1, :n) g
    JOIN venues v ON v.k = 1 + (g * 7919) % (SELECT count(*) FROM venues))
INSERT INTO campaigns (owner_id, place_id, name, headline, body, target_radius_m, target_area,
    target, bid_cpm, budget_total, budget_daily, starts_at, ends_at, categories, cap_count,
    cap_hours)
SELECT (SELECT id FROM accounts WHERE handle = 'bench-ads-owner'), id, 'bench', 'Bench ad',
       'body', CASE WHEN u < 0.05 THEN NULL ELSE r END,
       CASE WHEN u < 0.05 THEN ST_Buffer(position::geometry, r / 111320.0, 2)::geography END,
       CASE WHEN u < 0.05 THEN ST_Buffer(position::geometry, r / 111320.0, 2)::geography
            ELSE ST_Buffer(position, r, 8) END,
       50 + (random() * 450)::int, 100000000, 10000000, now() - interval '1 day',
       now() + interval '30 days',
       CASE WHEN u > 0.9 THEN ARRAY['coffee-shop'] END, 3, 24
FROM picked
"""


def pct(values: list[float], q: float) -> float:
    if len(values) < 10:
        return max(values)
    return statistics.quantiles(values, n=1000)[int(q * 10) - 1]


async def ensure_campaigns(db) -> int:  # type: ignore[no-untyped-def]
    async with db.sessionmaker() as s, s.begin():
        have = (await s.execute(text("SELECT count(*) FROM campaigns"))).scalar_one()
        if have < N_CAMPAIGNS:
            for statement in SEED_SQL.split(";\n"):
                await s.execute(text(statement), {"n": N_CAMPAIGNS - have})
        return (await s.execute(text("SELECT count(*) FROM campaigns"))).scalar_one()


def point(rng: random.Random) -> tuple[float, float]:
    return rng.uniform(BOX[1], BOX[3]), rng.uniform(BOX[0], BOX[2])


async def in_process(settings: Settings) -> dict:
    db, redis = create_database(settings), create_redis(settings)
    try:
        await redis.flushdb()
        count = await ensure_campaigns(db)
        engine = AdsEngine.create(db, redis, settings)
        started = time.perf_counter()
        await engine.index.refresh(db, force=True)
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        primed = await engine.prime()
        prime_s = time.perf_counter() - started
        rng = random.Random(42)
        # Warm-up: the first charge of each campaign takes a lease (a PostgreSQL transaction);
        # steady state takes one per ads_lease_chunk_impressions charges. Timed separately.
        cold = []
        for _ in range(N_DECISIONS):
            lat, lon = point(rng)
            t0 = time.perf_counter()
            await engine.decide(viewer_id=rng.randrange(1, 100_000), lat=lat, lon=lon)
            cold.append(time.perf_counter() - t0)
        rng = random.Random(42)
        lookups, candidates, decisions, served = [], [], [], 0
        for _ in range(N_DECISIONS):
            lat, lon = point(rng)
            t0 = time.perf_counter()
            hits = engine.index.covering(lat, lon)
            lookups.append(time.perf_counter() - t0)
            candidates.append(len(hits))
            t0 = time.perf_counter()
            ads = await engine.decide(viewer_id=rng.randrange(1, 100_000), lat=lat, lon=lon)
            decisions.append(time.perf_counter() - t0)
            served += len(ads)
        evals = await raw_eval(engine)
        await engine.settle()
        return {
            "campaigns": count,
            "index_load_s": load_s,
            "cold": cold,
            "primed": primed,
            "prime_s": prime_s,
            "lookups": lookups,
            "candidates": candidates,
            "decisions": decisions,
            "served": served,
            "evals": evals,
        }
    finally:
        await redis.aclose()
        await db.dispose()


async def raw_eval(engine: AdsEngine) -> list[float]:
    """The charge script alone, called in a loop (a campaign with a lease, no leasing path)."""
    cid = 1
    await engine.redis.hset(keys.budget(cid), mapping={"day": "2000-01-01", "lease": 10**15})
    times = []
    for v in range(N_DECISIONS):
        args = [
            "2000-01-01",
            100,
            10**15,
            1000,
            3_600_000,
            int(time.time() * 1000),
            new_impression_id(),
            0,
            cid,
            v,
            "35.0",
            "139.0",
            10.0,
            keys.STREAM_CAP,
            0,
        ]
        t0 = time.perf_counter()
        await engine.scripts.charge(
            keys=[keys.budget(cid), keys.frequency(cid, v), keys.events_for(cid)], args=args
        )
        times.append(time.perf_counter() - t0)
    await engine.redis.delete(keys.events_for(cid))
    return times


def redis_benchmark() -> str:
    db = REDIS_URL.rsplit("/", 1)[1]
    out = subprocess.run(
        [
            "redis-benchmark",
            "-h",
            "127.0.0.1",
            "--dbnum",
            db,
            "-n",
            "50000",
            "-c",
            "8",
            "-q",
            "EVAL",
            "return redis.call('HINCRBY', KEYS[1], 'n', 1)",
            "1",
            "bench:{a0}:x",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    return out.strip().splitlines()[-1].strip() if out.strip() else "(no output)"


def wrk(ads: bool, clients: int) -> dict[str, float]:
    # No in-process workers in either leg: only the request path differs (ads on or off).
    env = {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "REDIS_URL": REDIS_URL,
        "GEO_LOG_LEVEL": "WARNING",
        "GEO_ADS_ENABLED": "true" if ads else "false",
        "GEO_RUN_WORKERS_IN_PROCESS": "false",
        **TRAFFIC_RULES_PASS,
        "GEO_ALLOW_DEV_SECRET": "true",  # a dev setup; its loopback load skips per-address limits
        "GEO_RATE_LIMIT_EXEMPT": "127.0.0.1,::1",
        "PYTHONPATH": str(ROOT),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "geo", "serve", "--port", str(PORT)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        tokens = signup(env)
        base = f"http://127.0.0.1:{PORT}/"
        cmd = [
            "wrk",
            "-t1",
            f"-c{clients}",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "nearby_viewers.lua"),
            base,
            "--",
            *tokens,
        ]
        subprocess.run(cmd[:2] + ["-d3s"] + cmd[2:], capture_output=True, timeout=60)  # warm
        out = subprocess.run(
            cmd[:2] + [f"-d{DURATION}s"] + cmd[2:],
            capture_output=True,
            text=True,
            timeout=DURATION + 60,
        ).stdout
        match = re.search(r"rps=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) non2xx=(\d+)", out)
        assert match, out
        metrics = urllib.request.urlopen(f"{base}metrics", timeout=5).read().decode()
        return {
            "rps": float(match[1]),
            "p50": float(match[2]),
            "p99": float(match[3]),
            "non2xx": float(match[4]),
            "decide": decision_quantiles(metrics),
        }
    finally:
        server.terminate()
        server.wait(timeout=15)


TOKENS: list[str] = []


def decision_quantiles(metrics: str) -> tuple[float, float]:
    """Upper bucket bounds (ms) of the server's p50 and p99 decision time (geo_ad_decision_seconds,
    warm-up included)."""
    buckets = [
        (float(le), float(n))
        for le, n in re.findall(
            r'geo_ad_decision_seconds_bucket\{le="([\d.e+-]+|\+Inf)"\} ([\d.]+)', metrics
        )
    ]
    if not buckets or buckets[-1][1] == 0:
        return (float("nan"), float("nan"))
    total = buckets[-1][1]

    def bound(q: float) -> float:
        return next(le for le, n in buckets if n >= q * total) * 1000

    return bound(0.5), bound(0.99)


def signup(env: dict) -> list[str]:
    """VIEWERS member accounts (made once per run; later legs reuse their tokens)."""
    import httpx

    for _ in range(100):
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    run_tag = random.randrange(10**9)
    while len(TOKENS) < VIEWERS:
        response = httpx.post(
            f"http://127.0.0.1:{PORT}/v1/accounts",
            json={
                "handle": f"bench{run_tag}_{len(TOKENS)}",
                "password": "benchmark-pass",
                "kind": "member",
            },
        )
        TOKENS.append(response.json()["token"])
    return TOKENS


def ms(values: list[float], q: float) -> str:
    return f"{pct(values, q) * 1000:.3f}"


def main() -> int:
    settings = Settings(
        database_url=DB_URL,
        redis_url=REDIS_URL,
        **{k.removeprefix("GEO_").lower(): int(v) for k, v in TRAFFIC_RULES_PASS.items()},
    )
    r = asyncio.run(in_process(settings))
    bench = redis_benchmark()
    # Legs alternate (on, off, on, off...) so drifts in the box's load hit both alike.
    http = {(c, ads): [] for c in CLIENTS for ads in (True, False)}
    for c in CLIENTS:
        for _ in range(ROUNDS):
            for ads in (True, False):
                http[(c, ads)].append(wrk(ads, c))
    print(
        f"campaigns: {r['campaigns']}; index load {r['index_load_s']:.2f} s; primed "
        f"{r['primed']} campaigns' first leases in {r['prime_s']:.1f} s; "
        f"{N_DECISIONS} decisions, {r['served']} ads served; candidates per point: "
        f"mean {statistics.mean(r['candidates']):.1f}, max {max(r['candidates'])}"
    )
    print("| step (in-process) | p50 ms | p99 ms |\n|---|---|---|")
    print(f"| STRtree lookup + exact cover | {ms(r['lookups'], 50)} | {ms(r['lookups'], 99)} |")
    print(
        f"| decide(), first pass (leases primed; top-ups in the background) | "
        f"{ms(r['cold'], 50)} | {ms(r['cold'], 99)} |"
    )
    print(
        "| decide(), same points again (lookup, rank, one pipelined Lua round trip) | "
        f"{ms(r['decisions'], 50)} | "
        f"{ms(r['decisions'], 99)} |"
    )
    print(
        f"| raw EVALSHA of the charge script (ceiling) | {ms(r['evals'], 50)} | "
        f"{ms(r['evals'], 99)} |"
    )
    print(f"\nredis-benchmark EVAL (c=8): {bench}")
    print(
        f"\n| /v1/places/nearby, {DURATION} s per leg, median of {ROUNDS} | req/s | p50 ms | "
        "p99 ms |\n|---|---|---|---|"
    )
    for c in CLIENTS:
        for ads in (True, False):
            legs = http[(c, ads)]
            med = {k: statistics.median(leg[k] for leg in legs) for k in ("rps", "p50", "p99")}
            print(
                f"| wrk c={c}, ads {'on' if ads else 'off'} | {med['rps']:.0f} | "
                f"{med['p50']:.2f} | {med['p99']:.2f} |"
            )
    for c in CLIENTS:
        bounds = [leg["decide"] for leg in http[(c, True)]]
        print(
            f"c={c}: in-server decision time (geo_ad_decision_seconds bucket bounds per leg, "
            f"p50/p99 ms): {bounds}"
        )
    for c in CLIENTS:
        on = statistics.median(leg["p99"] for leg in http[(c, True)])
        off = statistics.median(leg["p99"] for leg in http[(c, False)])
        print(f"c={c}: ads add {on - off:.2f} ms p99 ({on / off:.2f}x)")
    print(f"decide() p99 / raw EVAL p99 = {pct(r['decisions'], 99) / pct(r['evals'], 99):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
