"""Capacity model: measured per-request costs (docs/benchmarks.md) turned into machines for a load.

Not a benchmark: arithmetic over figures the benchmarks measured, so docs/scale-out.md can say how
each number was reached, and so the table is re-made in one command when the figures change.

    .venv/bin/python bench/capacity_model.py                  # the Swarm-like load below
    .venv/bin/python bench/capacity_model.py --checkins-per-day 20e6 --peak 10
"""

import argparse
import math
from dataclasses import dataclass

# Measured costs, each with the section of docs/benchmarks.md it comes from. CPU is the server's
# own CPU time per unit (user + system, /proc/<pid>/stat), which stays comparable on a busy box.
COST = {
    # docs/benchmarks.md "Hot paths" (issue 13 round): app CPU per nearby 0.43-0.57 ms (run 2,
    # 1-32 connections; 0.57 at 1,000,000 places) -> the high end.
    "api_ms_per_nearby": 0.57,
    # Same section, run 2: ads on 1.34 against ads off 0.55 ms per request -> +0.8 ms.
    "api_ms_per_ad_decision": 0.8,
    # Same section: geo serve 0.84-1.32 ms per check-in (1-2 workers, max and offered) -> 1.32.
    "api_ms_per_checkin": 1.32,
    # "Fan-out drain": geo worker 29-30 us per delivery draining. While ingesting it was ~2x the
    # draining figure in the last measurement of both (168 against 83 us): 0.06 ms.
    "worker_ms_per_delivery": 0.06,
    # "GET /v1/places/nearby" (history): raw SQL 2,101 tx/s on 2 cores shared with pgbench.
    "pg_ms_per_nearby": 2 * 1000 / 2101,
    # Home timeline reads: a ZREVRANGE plus one indexed multi-row SELECT; taken as a nearby query.
    "api_ms_per_home_read": 0.57,
    "pg_ms_per_home_read": 2 * 1000 / 2101,
    # Check-in write: 5 statements in one transaction; taken as 3 nearby queries of PG CPU.
    "pg_ms_per_checkin": 3 * 2 * 1000 / 2101,
}
# Per delivery the fan-out sends ~2.1 Redis commands (ZADD and trim of the home timeline; the
# public stream and listeners once per batch: "Fan-out drain"), in shared pipelines; a Redis core
# serves on the order of 1e6 pipelined commands/s (redis-benchmark -P 16 class); we plan with a
# quarter of that.
REDIS_COMMANDS_PER_DELIVERY = 2.1
REDIS_COMMANDS_PER_CORE_S = 250_000
# Memory per home-timeline entry in a ZSET (skiplist encoding above 128 entries): ~64 bytes.
BYTES_PER_TIMELINE_ENTRY = 64
HOME_CAP = 800
BYTES_PER_CHECKIN_ROW = (
    350  # row + indexes, measured on the bench database (pg_total_relation_size)
)
BYTES_PER_IMPRESSION_ROW = 160
# Plan machines at this share of their cores: headroom for failover and GC pauses.
TARGET_UTILISATION = 0.6
CORES_PER_MACHINE = 16


@dataclass
class Load:
    checkins_per_day: float
    peak: float  # peak hour rate / average rate
    recipients_per_checkin: float
    nearby_per_checkin: float
    home_reads_per_checkin: float
    active_accounts: float
    ad_slots_shown_per_nearby: float
    retention_days: int


def per_second(load: Load) -> dict[str, float]:
    avg = load.checkins_per_day / 86_400
    peak = avg * load.peak
    return {
        "checkins/s": peak,
        "deliveries/s": peak * load.recipients_per_checkin,
        "nearby/s": peak * load.nearby_per_checkin,
        "home reads/s": peak * load.home_reads_per_checkin,
    }


def machines(cores: float) -> int:
    return max(1, math.ceil(cores / (CORES_PER_MACHINE * TARGET_UTILISATION)))


def model(load: Load) -> list[tuple[str, str, str]]:
    rate = per_second(load)
    api_cores = (
        rate["checkins/s"] * COST["api_ms_per_checkin"]
        + rate["nearby/s"] * (COST["api_ms_per_nearby"] + COST["api_ms_per_ad_decision"])
        + rate["home reads/s"] * COST["api_ms_per_home_read"]
    ) / 1000
    worker_cores = rate["deliveries/s"] * COST["worker_ms_per_delivery"] / 1000
    pg_write_cores = rate["checkins/s"] * COST["pg_ms_per_checkin"] / 1000
    pg_read_cores = (
        rate["nearby/s"] * COST["pg_ms_per_nearby"]
        + rate["home reads/s"] * COST["pg_ms_per_home_read"]
    ) / 1000
    redis_cores = rate["deliveries/s"] * REDIS_COMMANDS_PER_DELIVERY / REDIS_COMMANDS_PER_CORE_S
    redis_gib = load.active_accounts * HOME_CAP * BYTES_PER_TIMELINE_ENTRY / 2**30
    checkin_gib_year = load.checkins_per_day * 365 * BYTES_PER_CHECKIN_ROW / 2**30
    impressions_day = (
        load.checkins_per_day * load.nearby_per_checkin * load.ad_slots_shown_per_nearby
    )
    ledger_gib = impressions_day * load.retention_days * BYTES_PER_IMPRESSION_ROW / 2**30
    rows = [(name, f"{value:,.0f}", "peak") for name, value in rate.items()]
    rows += [
        ("API cores", f"{api_cores:.1f}", f"{machines(api_cores)} x {CORES_PER_MACHINE}-core"),
        (
            "worker cores",
            f"{worker_cores:.1f}",
            f"{machines(worker_cores)} x {CORES_PER_MACHINE}-core",
        ),
        ("PostgreSQL primary cores (writes)", f"{pg_write_cores:.1f}", "1 primary"),
        (
            "PostgreSQL read cores (replicas)",
            f"{pg_read_cores:.1f}",
            f"{machines(pg_read_cores)} replica(s) x {CORES_PER_MACHINE}-core",
        ),
        (
            "Redis cores (fan-out writes)",
            f"{redis_cores:.1f}",
            "Redis is single-threaded per shard",
        ),
        (
            "Redis memory, home timelines of active accounts",
            f"{redis_gib:,.0f} GiB",
            f"{max(3, math.ceil(redis_gib / 25))} Redis Cluster primaries of 32 GiB (+ replicas)",
        ),
        ("check-ins, one year", f"{checkin_gib_year:,.0f} GiB", "Citus by author_id past ~1 TB"),
        (
            f"ad ledger, {load.retention_days} days kept",
            f"{ledger_gib:,.0f} GiB",
            "daily partitions, dropped after retention",
        ),
    ]
    return rows


MEASURE_SQL = """
INSERT INTO checkins (author_id, place_id, position, accuracy_m, message, circle_ids, public)
SELECT (SELECT min(id) FROM accounts), (SELECT min(id) FROM places),
       ST_SetSRID(ST_MakePoint(139 + random(), 35 + random()), 4326)::geography, 20,
       'at the cafe with friends ' || g, ARRAY[g::bigint], g % 2 = 0
FROM generate_series(1, 50000) g;
INSERT INTO ad_impressions (campaign_id, viewer_id, served_at, position, distance_m, cost_milli_yen)
SELECT 1, g, now(), ST_SetSRID(ST_MakePoint(139 + random(), 35 + random()), 4326)::geography,
       100, 10
FROM generate_series(1, 50000) g;
"""


def measure_rows(url: str) -> None:
    """Bytes per check-in and impression row (heap + indexes) on a migrated database that has at
    least one account and one place; nothing is kept."""
    import psycopg

    tables = ("checkins", "ad_impressions")
    size_sql = "SELECT pg_total_relation_size(%s)"
    with psycopg.connect(url, autocommit=True) as conn:
        for table in tables:
            conn.execute(f"VACUUM {table}")  # space left by earlier rolled-back runs is reused
        before = {t: conn.execute(size_sql, (t,)).fetchone()[0] for t in tables}
        with conn.transaction(force_rollback=True):
            conn.execute(MEASURE_SQL)
            for table in tables:
                grown = conn.execute(size_sql, (table,)).fetchone()[0] - before[table]
                print(f"{table}: {grown // 50_000} bytes per row")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkins-per-day", type=float, default=5e6)
    parser.add_argument("--peak", type=float, default=10.0)
    parser.add_argument("--recipients", type=float, default=50.0)
    parser.add_argument("--nearby-per-checkin", type=float, default=10.0)
    parser.add_argument("--home-reads-per-checkin", type=float, default=20.0)
    parser.add_argument("--active-accounts", type=float, default=2e6)
    parser.add_argument("--ads-per-nearby", type=float, default=1.0)
    parser.add_argument("--retention-days", type=int, default=90)
    parser.add_argument("--measure-rows", metavar="DATABASE_URL")
    args = parser.parse_args()
    if args.measure_rows:
        measure_rows(args.measure_rows)
        return
    load = Load(
        checkins_per_day=args.checkins_per_day,
        peak=args.peak,
        recipients_per_checkin=args.recipients,
        nearby_per_checkin=args.nearby_per_checkin,
        home_reads_per_checkin=args.home_reads_per_checkin,
        active_accounts=args.active_accounts,
        ad_slots_shown_per_nearby=args.ads_per_nearby,
        retention_days=args.retention_days,
    )
    print(f"| quantity | value | machines ({TARGET_UTILISATION:.0%} utilisation) |")
    print("|---|---:|---|")
    for name, value, note in model(load):
        print(f"| {name} | {value} | {note} |")


if __name__ == "__main__":
    main()
