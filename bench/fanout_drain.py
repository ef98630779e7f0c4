#!/usr/bin/env python3
"""Fan-out drain beside the raw Redis pipeline, interleaved (not a test). Loopback only.

Each of ROUNDS (default 3) rounds runs, in turn:
  raw    ZADD + ZREMRANGEBYRANK pairs from Python (redis-py with hiredis, as the worker uses),
         pipelines of 500 (the worker's batch), for 3 s: the two commands a delivery costs now
         that announcements go only to accounts with a live stream open (none here);
  drain  BACKLOG public check-ins of random graph accounts written into checkins + outbox while
         no worker runs (Redis keeps its epoch: no recovery), then one `geo worker` started:
         deliveries / time from the first delivery to the last, the worker's CPU per delivery
         over the same span, and apart: start-up (process start to the first delivery) and the
         rate with start-up included.
Against bench/build_fanout_db.sh's database (BENCH_DB, default geo_bench_fanout); BENCH_REDIS_URL
(default DB 11) is flushed. Prints a markdown table with the medians.

    BENCH_DB=geo_bench_fanout BACKLOG=20000 .venv/bin/python bench/fanout_drain.py
"""

import asyncio
import os
import statistics
import sys

import fanout_replay as replay  # bench/ is on the path when this script runs

ROUNDS = int(os.environ.get("ROUNDS", "3"))


def main() -> int:
    raw, drains, cpu = [], [], []
    for r in range(ROUNDS):
        raw.append(asyncio.run(replay.raw_zadd(500)))
        drain = replay.drain_phase()
        drains.append(drain)
        cpu.append(replay.CPU["drain_worker_us_per_delivery"])
        replay.log(f"round {r}: raw {raw[-1]:,.0f} pairs/s; drain {drain}; {cpu[-1]:.0f} us")
    rate = statistics.median(d["deliveries_per_s"] for d in drains)
    best = statistics.median(raw)
    startup = statistics.median(d["startup_s"] for d in drains)
    whole = statistics.median(d["with_startup_per_s"] for d in drains)
    print(
        f"\n{replay.DB}: {drains[0]['events']:,} check-ins -> {drains[0]['deliveries']:,} "
        f"deliveries per round; {ROUNDS} rounds, medians; shared 2-core box\n"
    )
    print(
        "| raw ZADD+trim pairs/s | drain deliveries/s | drain / raw | worker CPU us/delivery "
        "| start-up s | with start-up deliveries/s |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {best:,.0f} | {rate:,.0f} | **{rate / best:.2f}x** | {statistics.median(cpu):.0f} "
        f"| {startup:.2f} | {whole:,.0f} ({whole / best:.2f}x) |"
    )
    per_round = [round(d["deliveries_per_s"]) for d in drains]
    raws, cpus = [round(x) for x in raw], [round(c) for c in cpu]
    print(f"\nper round: raw {raws}, drain {per_round}, CPU {cpus}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
