#!/usr/bin/env python3
"""Benchmark the invalid-traffic check an ad decision adds (not a test). Loopback Redis only.

What `AdsEngine.decide()` pays when a campaign covers the point: one EVALSHA of the traffic
script on the viewer's key (geo/ads/traffic.py). Beside it, in the same run and interleaved
round by round: a bare PING (the floor: one round trip; the charge script is measured in
bench/ads_decision.py). Reports per-call wall time p50/p99 and process
CPU per call, median of ROUNDS rounds, each as a ratio to the PING floor.

    PYTHONPATH=. .venv/bin/python bench/ads_traffic.py
    # knobs: BENCH_REDIS_URL (redis://127.0.0.1:6379/4; the script FLUSHDBs it), CALLS (5000),
    #        ROUNDS (3), VIEWERS (1000)
"""

import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.ads.traffic import TrafficFilter  # noqa: E402
from geo.core.config import Settings  # noqa: E402
from geo.core.redis import create_redis  # noqa: E402

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
CALLS = int(os.environ.get("CALLS", "5000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
VIEWERS = int(os.environ.get("VIEWERS", "1000"))


async def timed(calls: list) -> tuple[float, float, float]:  # type: ignore[type-arg]
    """(p50 ms, p99 ms, CPU ms per call) of awaiting each zero-argument coroutine factory."""
    wall = []
    cpu0 = time.process_time()
    for call in calls:
        t0 = time.perf_counter()
        await call()
        wall.append(time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / len(calls)
    wall.sort()
    return wall[len(wall) // 2] * 1000, wall[int(len(wall) * 0.99)] * 1000, cpu * 1000


async def main() -> int:
    settings = Settings(redis_url=REDIS_URL, ads_min_account_age_s=0)
    redis = create_redis(settings)
    await redis.flushdb()
    check = TrafficFilter(redis, settings)
    rng = random.Random(1)
    # Old accounts (ids from 2015) walking around Tokyo at a plausible pace: every call is "ok".
    viewers = [(1 << 50) + n for n in range(VIEWERS)]
    results: dict[str, list[tuple[float, float, float]]] = {"ping": [], "traffic": []}
    for _ in range(ROUNDS):
        now = time.time()
        points = [
            (rng.choice(viewers), 35.68 + rng.random() * 0.001, 139.76 + rng.random() * 0.001)
            for _ in range(CALLS)
        ]
        results["ping"].append(await timed([redis.ping for _ in range(CALLS)]))
        results["traffic"].append(
            await timed(
                [
                    (lambda v=v, a=a, b=b, t=now + i: check.invalid_reason(v, a, b, t))
                    for i, (v, a, b) in enumerate(points)
                ]
            )
        )
    await redis.flushdb()
    await redis.aclose()
    floor = [statistics.median(r[i] for r in results["ping"]) for i in range(3)]
    print(f"rounds={ROUNDS} calls/round={CALLS} viewers={VIEWERS} redis={REDIS_URL}")
    print("| call | p50 ms | p99 ms | CPU ms/call | p50 / PING p50 | CPU / PING CPU |")
    print("|---|---|---|---|---|---|")
    for name in ("ping", "traffic"):
        p50, p99, cpu = (statistics.median(r[i] for r in results[name]) for i in range(3))
        print(
            f"| {name} | {p50:.3f} | {p99:.3f} | {cpu:.3f} | {p50 / floor[0]:.2f} | "
            f"{cpu / floor[2]:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
