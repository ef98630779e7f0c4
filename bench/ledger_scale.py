#!/usr/bin/env python3
"""Benchmark the ad ledger at scale: day partitions against one plain table (not a test).

Builds two databases from the migrations (unless BENCH_SKIP_BUILD=1):

  part:  `ad_impressions` as migration 0006_ledger makes it (range-partitioned by snowflake id),
         with one partition per day of the loaded period, as the worker's maintenance keeps it;
  plain: the same database with `ad_impressions` turned back into one table (the same columns,
         primary key, indexes and report trigger: what 0006_ledger's downgrade makes).

Each gets ROWS impressions (default 50,000,000) over DAYS days (default 60) for CAMPAIGNS
campaigns, with snowflake ids (the time in the high bits, as the ad worker writes them). Then, in
one run, ROUNDS rounds alternating the two databases (part, plain, plain, part, ...), each round:

  insert: BATCHES writes of BATCH impressions for the current hour through the ad worker's own
          statement (`LedgerRepository.insert_impressions`, ON CONFLICT and the report trigger
          included), committed one by one: impressions per second;
  rollup: `recompute_hour` for HOURS random past (campaign, hour) pairs: the rollup a report
          waits for, which reads the ledger by campaign and time;
  visits: the report's store-visit reads of the raw ledger (`ReportRepository.visits` and
          `converters` over a 7-day window, on generic plans as the report service runs them),
          for VISITS random windows;

and prints the median over rounds of each figure for both layouts and the ratio part / plain,
with the database server's CPU time per operation (the backends' CPU from /proc).

    .venv/bin/python bench/ledger_scale.py            # ~1 h on 2 cores at 50M rows each
    ROWS=2000000 .venv/bin/python bench/ledger_scale.py   # a quick look

BENCH_DB_PREFIX names the databases (<prefix>_part, <prefix>_plain; default geo_bench_ledger), so
a run at another scale keeps another's. The partition count (one a day) depends on DAYS, not ROWS.
"""

import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from procs import pid_cpu_seconds  # noqa: E402  (bench/ is on the path when this script runs)

from geo.ads.ledger_repository import LedgerRepository  # noqa: E402
from geo.core.config import Settings  # noqa: E402
from geo.core.db import Database, create_database  # noqa: E402
from geo.core.ids import EPOCH_MS  # noqa: E402
from geo.reports.repository import ReportRepository  # noqa: E402
from geo.reports.rollup import recompute_hour  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PREFIX = os.environ.get("BENCH_DB_PREFIX", "geo_bench_ledger")
LAYOUTS = {"part": f"{PREFIX}_part", "plain": f"{PREFIX}_plain"}
ROWS = int(os.environ.get("ROWS", "50000000"))
DAYS = int(os.environ.get("DAYS", "60"))
CAMPAIGNS = int(os.environ.get("CAMPAIGNS", "50"))
VIEWERS = int(os.environ.get("VIEWERS", "600000"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
BATCHES = int(os.environ.get("BATCHES", "40"))
BATCH = int(os.environ.get("BATCH", "500"))
HOURS = int(os.environ.get("HOURS", "10"))
VISITS = int(os.environ.get("VISITS", "5"))
CHUNK = 2_000_000  # rows per loading statement
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
START = NOW - timedelta(days=DAYS)


def log(msg: str) -> None:
    print(f"# {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def url(layout: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{LAYOUTS[layout]}"


# `ad_impressions` back to one table, as migration 0006_ledger's downgrade does (empty here).
TO_PLAIN = """
DO $$
DECLARE d text;
BEGIN
    CREATE TEMP TABLE index_defs AS
        SELECT replace(indexdef, ' ON ONLY ', ' ON ') AS def FROM pg_indexes
        WHERE schemaname = 'public' AND tablename = 'ad_impressions'
          AND indexname <> 'pk_ad_impressions';
    CREATE TABLE ad_impressions_plain (LIKE ad_impressions INCLUDING DEFAULTS);
    ALTER SEQUENCE ad_impressions_id_seq OWNED BY ad_impressions_plain.id;
    DROP TABLE ad_impressions;
    ALTER TABLE ad_impressions_plain RENAME TO ad_impressions;
    ALTER TABLE ad_impressions ADD CONSTRAINT pk_ad_impressions PRIMARY KEY (id);
    FOR d IN SELECT def FROM index_defs LOOP EXECUTE d; END LOOP;
    CREATE TRIGGER report_mark_impressions AFTER INSERT ON ad_impressions
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
        EXECUTE FUNCTION report_mark_impressions();
END $$;
"""


def day_partitions(conn: psycopg.Connection) -> None:
    """One partition per loaded day (and a week ahead), as the worker's maintenance keeps them;
    the history partition the migration attached (everything before tomorrow) goes first."""
    conn.execute("DROP TABLE ad_impressions_history")
    first = START.date()
    for n in range((NOW.date() - first).days + 8):
        day = first + timedelta(days=n)
        conn.execute(
            f"""CREATE TABLE ad_impressions_{day:%Y%m%d} PARTITION OF ad_impressions
                FOR VALUES FROM (geo_id_floor('{day}'::timestamptz))
                TO (geo_id_floor('{day + timedelta(days=1)}'::timestamptz))"""
        )


def build(layout: str) -> None:
    name = LAYOUTS[layout]
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": url(layout), "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-m", "geo", "migrate"], check=True, env=env, cwd=ROOT, capture_output=True
    )
    with psycopg.connect(url(layout), autocommit=True) as conn:
        # Loading is set-up, not the measurement: at the lowest CPU priority it may run beside
        # other work (LOW_PRIORITY=0 to keep the default).
        if os.environ.get("LOW_PRIORITY", "1") == "1":
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            os.setpriority(os.PRIO_PROCESS, pid, 19)
        if layout == "plain":
            conn.execute(TO_PLAIN)
        else:
            day_partitions(conn)
        conn.execute("""
            INSERT INTO accounts (id, handle, password_hash, kind)
            VALUES (9000000, 'bench_owner', 'x', 'business')""")
        conn.execute("""
            INSERT INTO places (id, name, name_norm, category, position, owner_id)
            VALUES (1, 'Bench Kissa', 'benchkissa', 'coffee-shop',
                    ST_MakePoint(139.7671, 35.6812)::geography, 9000000)""")
        conn.execute(
            """
            INSERT INTO campaigns (id, owner_id, place_id, name, headline, body, target_radius_m,
                                   target, bid_cpm, budget_total, budget_daily, starts_at,
                                   ends_at, cap_count, cap_hours)
            SELECT g, 9000000, 1, 'bench ' || g, 'bench', '', 1000, ST_Buffer(p.position, 1000),
                   300, 1000000000, 10000000, %(s)s, %(e)s, 10, 24
            FROM generate_series(1, %(n)s) g, places p WHERE p.id = 1""",
            {"s": START, "e": NOW + timedelta(days=30), "n": CAMPAIGNS},
        )
        # Check-ins at the place by viewers, for the visit reads (as many as a busy cafe has).
        conn.execute(
            """
            INSERT INTO accounts (id, handle, password_hash, kind)
            SELECT g, 'v' || g, 'x', 'member' FROM generate_series(1, 20000) g""",
        )
        conn.execute(
            """
            INSERT INTO checkins (author_id, place_id, position, accuracy_m, public, created_at)
            SELECT 1 + g %% 20000, 1, ST_MakePoint(139.7671, 35.6812)::geography, 10, true,
                   %(s)s + (g::float8 / 20000) * %(span)s * interval '1 day'
            FROM generate_series(1, 20000) g""",
            {"s": START, "span": DAYS},
        )
        log(f"{layout}: loading {ROWS:,} impressions over {DAYS} days")
        t0 = time.monotonic()
        ms_per_row = DAYS * 86_400_000 / ROWS
        start_ms = int(START.timestamp() * 1000)
        for first in range(0, ROWS, CHUNK):
            # Snowflake ids: milliseconds since the id epoch in the high bits, a sequence below.
            conn.execute(
                """
                INSERT INTO ad_impressions (id, campaign_id, viewer_id, served_at, position,
                                            distance_m, cost_milli_yen)
                SELECT ((%(s)s + (g * %(step)s)::bigint - %(epoch)s) << 22) | (g & 4095),
                       1 + (hashint8(g) & 2147483647) %% %(c)s,
                       1 + (hashint8(g * 3) & 2147483647) %% %(v)s,
                       to_timestamp((%(s)s + g * %(step)s) / 1000.0),
                       ST_Project(ST_MakePoint(139.7671, 35.6812)::geography,
                                  (hashint8(g * 7) & 2047)::float8 * 0.5, radians(g %% 360)),
                       (hashint8(g * 7) & 2047)::float8 * 0.5, 300
                FROM generate_series(%(a)s, %(b)s) g""",
                {
                    "s": start_ms,
                    "step": ms_per_row,
                    "epoch": EPOCH_MS,
                    "c": CAMPAIGNS,
                    "v": VIEWERS,
                    "a": first,
                    "b": min(first + CHUNK, ROWS) - 1,
                },
            )
            log(f"{layout}: {min(first + CHUNK, ROWS):,} rows, {time.monotonic() - t0:.0f} s")
        conn.execute("TRUNCATE report_dirty")  # the load is not what the rollup is timed on
        conn.execute("VACUUM ANALYZE")
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('ad_impressions'))")
        log(f"{layout}: loaded in {time.monotonic() - t0:.0f} s")
        if layout == "plain":
            log(f"plain table size: {size.fetchone()[0]}")


async def backend_pids(session: AsyncSession) -> list[int]:
    return [(await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()]


async def one_round(db: Database, seed: int) -> dict[str, float]:
    """One round on a long-lived pool (as the service runs): a new backend per round would time
    its first look at every partition's metadata, not the steady state."""
    rng = random.Random(seed)
    out: dict[str, float] = {}
    async with db.sessionmaker() as session:
        pids = await backend_pids(session)
        await session.commit()
        repo = LedgerRepository(session)
        # insert: the ad worker's write, committed batch by batch, at the current hour.
        now_ms = int(time.time() * 1000)
        cpu0, t0 = pid_cpu_seconds(pids), time.perf_counter()
        for b in range(BATCHES):
            rows = [
                {
                    "id": ((now_ms - EPOCH_MS) << 22) | (seed % 64 << 16) | (b << 9) | i,
                    "campaign_id": 1 + rng.randrange(CAMPAIGNS),
                    "viewer_id": 1 + rng.randrange(VIEWERS),
                    "at": NOW,
                    "lon": 139.7671,
                    "lat": 35.6812,
                    "distance_m": 100.0,
                    "cost": 300,
                }
                for i in range(BATCH)
            ]
            await repo.insert_impressions(rows)
            await session.commit()
        elapsed = time.perf_counter() - t0
        out["insert_rows_per_s"] = BATCHES * BATCH / elapsed
        out["insert_cpu_ms_per_batch"] = 1000 * (pid_cpu_seconds(pids) - cpu0) / BATCHES
        # rollup: one (campaign, hour) of the past, as the rollup worker recomputes it.
        samples, cpu0 = [], pid_cpu_seconds(pids)
        for _ in range(HOURS):
            hour = START + timedelta(hours=rng.randrange(1, DAYS * 24 - 1))
            t0 = time.perf_counter()
            await recompute_hour(session, 1 + rng.randrange(CAMPAIGNS), hour)
            await session.rollback()  # measure the read and write, keep the state
            samples.append(time.perf_counter() - t0)
        out["rollup_ms"] = 1000 * statistics.median(samples)
        out["rollup_cpu_ms"] = 1000 * (pid_cpu_seconds(pids) - cpu0) / HOURS
        # visits: the report's reads of the raw ledger for a 7-day window, VISITS windows.
        reports = ReportRepository(session)
        samples, cpu0 = [], pid_cpu_seconds(pids)
        for _ in range(VISITS):
            campaign = SimpleNamespace(id=1 + rng.randrange(CAMPAIGNS), place_id=1)
            end = NOW - timedelta(days=rng.randrange(1, DAYS - 8))
            start, window = end - timedelta(days=7), timedelta(days=7)
            t0 = time.perf_counter()
            async with reports.generic_plans():  # as the report service runs them
                await reports.visits(campaign, start, end, window, clip=3)  # type: ignore[arg-type]
                await reports.converters(campaign, start, end, window, holdout=False)  # type: ignore[arg-type]
            samples.append(time.perf_counter() - t0)
        out["visits_ms"] = 1000 * statistics.median(samples)
        out["visits_cpu_ms"] = 1000 * (pid_cpu_seconds(pids) - cpu0) / VISITS
        await session.rollback()
    return out


async def measure() -> None:
    results: dict[str, list[dict[str, float]]] = {"part": [], "plain": []}
    order = ["part", "plain"]
    dbs = {
        layout: create_database(Settings(database_url=url(layout), db_pool_size=1))
        for layout in LAYOUTS
    }
    for n in range(ROUNDS + 1):  # the first round warms the caches and is dropped
        for layout in order:
            got = await one_round(dbs[layout], seed=n * 2 + order.index(layout))
            if n:
                results[layout].append(got)
            log(f"round {n} {layout}: " + ", ".join(f"{k}={v:.1f}" for k, v in got.items()))
        order.reverse()
    for db in dbs.values():
        await db.dispose()
    print(f"\nrows={ROWS:,} days={DAYS} campaigns={CAMPAIGNS} rounds={ROUNDS} (median)\n")
    print("| figure | day partitions | one table | partitions / table |")
    print("|---|---:|---:|---:|")
    for key, label in (
        ("insert_rows_per_s", f"ledger insert, impressions/s ({BATCH}-row batches)"),
        ("insert_cpu_ms_per_batch", "  PostgreSQL CPU per batch, ms"),
        ("rollup_ms", "rollup of one (campaign, hour), ms"),
        ("rollup_cpu_ms", "  PostgreSQL CPU per rollup, ms"),
        ("visits_ms", "report visit reads (7 days), ms"),
        ("visits_cpu_ms", "  PostgreSQL CPU per visit read, ms"),
    ):
        a = statistics.median(r[key] for r in results["part"])
        b = statistics.median(r[key] for r in results["plain"])
        # CPU is read in clock ticks (10 ms): a median of 0 at small scales has no ratio.
        ratio = f"{a / b:.2f}x" if b else "-"
        print(f"| {label} | {a:,.1f} | {b:,.1f} | {ratio} |")


def main() -> None:
    if os.environ.get("BENCH_SKIP_BUILD") != "1":
        for layout in LAYOUTS:
            build(layout)
    asyncio.run(measure())


if __name__ == "__main__":
    main()
