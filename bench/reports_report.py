#!/usr/bin/env python3
"""Benchmark a 30-day campaign report over 10,000,000 impressions (not a test).

Builds database BENCH_DB (default geo_bench_reports) from scratch unless BENCH_SKIP_BUILD=1:
migrations, one partition per day for the ledgers (as the worker's maintenance keeps them; the
rows' ids are snowflakes of their serving time, so each lands in its day's partition), one
campaign, IMPRESSIONS synthetic ledger rows over 30 days (viewers drawn from VIEWERS ids, 5% of
them also logged as holdouts), 5,000 check-ins at the place, then the rollup worker over every
touched hour, timed: the report reads those rollups while the raw ceiling scans the ledger, so
what the rollups cost to build is printed beside them (total and per hour rolled up). Then, in
one run, RUNS times each:

  report: GET /v1/campaigns/{id}/report?granularity=day over the 30 days, over real HTTP to a
          `geo serve` process on PORT (default 8150; auth, session, rollups, visits, guard,
          JSON), with that server's CPU time per report
  hourly: the same with granularity=hour (720 series points)
  raw:    SELECT count(*), count(DISTINCT viewer_id), sum(cost) over the same ledger rows
          (the ceiling an exact report would start from, before visits or bands)

and prints p50/p95 in ms and the ratios report/raw (over the answered requests), how many
requests were not answered 200 (by status, or the transport error), and the reach error of the
sketch (the released reach also carries the report's noise).

    .venv/bin/python bench/reports_report.py
    # knobs: BENCH_DB, BENCH_SKIP_BUILD, IMPRESSIONS (10000000), VIEWERS (600000), RUNS (40),
    #        PORT (8150), REDIS_URL (redis://127.0.0.1:6379/9)
"""

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from procs import Proc  # noqa: E402  (bench/ is on the path when this script runs)

from geo.core.config import Settings  # noqa: E402
from geo.core.db import create_database  # noqa: E402
from geo.reports.rollup import rollup_once  # noqa: E402

DB = os.environ.get("BENCH_DB", "geo_bench_reports")
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
URL = f"postgresql://postgres@127.0.0.1:5432/{DB}"
IMPRESSIONS = int(os.environ.get("IMPRESSIONS", "10000000"))
VIEWERS = int(os.environ.get("VIEWERS", "600000"))
RUNS = int(os.environ.get("RUNS", "40"))
END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(days=30)


def log(msg: str) -> None:
    print(f"# {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


LEDGERS = ("ad_impressions", "ad_holdouts", "ad_clicks")


def day_partitions(conn: psycopg.Connection) -> None:
    """One partition per day from START to a week past today, as the worker's maintenance keeps
    them; the history partition the migration attached (everything before tomorrow) goes first,
    or the whole synthetic ledger would sit in that one table."""
    first, last = START.date(), max(END, datetime.now(UTC)).date() + timedelta(days=7)
    for table in LEDGERS:
        conn.execute(f"DROP TABLE {table}_history")
        for n in range((last - first).days + 1):
            day = first + timedelta(days=n)
            conn.execute(
                f"""CREATE TABLE {table}_p{day:%Y%m%d} PARTITION OF {table}
                    FOR VALUES FROM (geo_id_floor('{day}'::timestamptz))
                    TO (geo_id_floor('{day + timedelta(days=1)}'::timestamptz))"""
            )


def build() -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    env = {**os.environ, "DATABASE_URL": URL, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-m", "geo", "migrate"], check=True, env=env, cwd=ROOT, capture_output=True
    )
    with psycopg.connect(URL, autocommit=True) as conn:
        day_partitions(conn)
        conn.execute("""
            INSERT INTO accounts (id, handle, password_hash, kind)
            SELECT g, 'bench' || g, 'x', 'member' FROM generate_series(1, 5000) g""")
        # Ids are snowflakes of the event's time, as the ad worker writes them: the ledgers are
        # partitioned, and the report's reads pruned, by them.
        log(f"ledger: {IMPRESSIONS:,} impressions over 30 days")
        t0 = time.monotonic()
        conn.execute(
            """
            INSERT INTO ad_impressions (id, campaign_id, viewer_id, served_at, position,
                                        distance_m, cost_milli_yen)
            SELECT geo_id_floor(%(s)s + (g::float8 / %(n)s) * interval '30 days') | (g & 4095),
                   1, 1 + (hashint8(g) & 2147483647) %% %(v)s,
                   %(s)s + (g::float8 / %(n)s) * interval '30 days',
                   ST_Project(ST_MakePoint(139.7671, 35.6812)::geography,
                              (hashint8(g * 7) & 2047)::float8 * 0.5, radians(g %% 360)),
                   (hashint8(g * 7) & 2047)::float8 * 0.5, 300
            FROM generate_series(1, %(n)s) g""",
            {"v": VIEWERS, "n": IMPRESSIONS, "s": START},
        )
        conn.execute(
            """
            INSERT INTO ad_holdouts (id, campaign_id, viewer_id, logged_at, position, distance_m)
            SELECT geo_id_floor(%(s)s + (g::float8 / %(n)s) * interval '30 days') | (g & 4095),
                   1, 1 + (hashint8(g) & 2147483647) %% %(v)s,
                   %(s)s + (g::float8 / %(n)s) * interval '30 days',
                   ST_MakePoint(139.7671, 35.6812)::geography, 100
            FROM generate_series(1, %(n)s / 20) g""",
            {"v": VIEWERS, "n": IMPRESSIONS, "s": START},
        )
        conn.execute("""
            INSERT INTO ad_clicks (impression_id, campaign_id, viewer_id, clicked_at)
            SELECT id, 1, viewer_id, served_at + interval '1 minute' FROM ad_impressions
            WHERE id % 97 = 0""")
        log(f"ledger written in {time.monotonic() - t0:.0f} s")


async def setup_campaign(conn: psycopg.AsyncConnection) -> None:
    """The campaign, its owner and place, and 5,000 check-ins there made public at the venue
    (`exact`): only those count as visits, so private ones would leave attribution nothing to
    read and the report's visits withheld."""
    await conn.execute("""
        INSERT INTO accounts (id, handle, password_hash, kind)
        VALUES (9000000, 'bench_owner', 'x', 'business') ON CONFLICT DO NOTHING""")
    await conn.execute("""
        INSERT INTO places (id, name, name_norm, category, position, owner_id)
        VALUES (1, 'Bench Kissa', 'benchkissa', 'coffee-shop',
                ST_MakePoint(139.7671, 35.6812)::geography, 9000000) ON CONFLICT DO NOTHING""")
    await conn.execute(
        """
        INSERT INTO campaigns (id, owner_id, place_id, name, headline, body, target_radius_m,
                               target, bid_cpm, budget_total, budget_daily, starts_at, ends_at,
                               cap_count, cap_hours)
        SELECT 1, 9000000, 1, 'bench', 'bench', '', 1000, ST_Buffer(position, 1000), 300,
               10000000, 1000000, %(s)s, %(e)s, 10, 24 FROM places WHERE id = 1
        ON CONFLICT DO NOTHING""",
        {"s": START, "e": END},
    )
    await conn.execute(
        """
        INSERT INTO checkins (author_id, place_id, position, accuracy_m, created_at, public,
                              public_precision, public_position)
        SELECT 1 + g %% 5000, 1, ST_MakePoint(139.7671, 35.6812)::geography, 10,
               %(s)s + (g::float8 / 5000) * interval '30 days', true, 'exact',
               ST_MakePoint(139.7671, 35.6812)::geography
        FROM generate_series(1, 5000) g
        WHERE NOT EXISTS (SELECT 1 FROM checkins)""",
        {"s": START},
    )


ROLLUP: dict[str, float] = {}


async def rollup_all(settings: Settings) -> None:
    """Drain the rollup queue with the worker's own pass (24 hours a transaction), timed: the
    report's reads are cheap because this was paid before."""
    db = create_database(settings)
    hours, per_hour = 0, []
    t0 = time.perf_counter()
    try:
        while True:
            b0 = time.perf_counter()
            done = await rollup_once(db, limit=24)
            if not done:
                break
            hours += done
            per_hour.append((time.perf_counter() - b0) / done)
    finally:
        await db.dispose()
    total = time.perf_counter() - t0
    log(f"rollup: {hours} hours in {total:.1f} s")
    if hours:
        ROLLUP.update(
            hours=hours,
            total_s=total,
            mean_ms=1000 * total / hours,
            p50_ms=1000 * statistics.median(per_hour),
            max_ms=1000 * max(per_hour),
        )


def pct(samples: list[float], q: float) -> float:
    return (
        statistics.quantiles(samples, n=100, method="inclusive")[q - 1]
        if len(samples) > 1
        else samples[0]
    )


PORT = int(os.environ.get("PORT", "8150"))


async def measure(settings: Settings) -> None:
    async with await psycopg.AsyncConnection.connect(URL, autocommit=True) as conn:
        await setup_campaign(conn)
        await conn.execute("VACUUM ANALYZE")  # what autovacuum does after a bulk load
        token = "bench-token-reports"
        await conn.execute(
            """
            INSERT INTO account_tokens (token_hash, account_id, expires_at)
            VALUES (sha256(%(t)s::bytea), 9000000, now() + interval '1 day')
            ON CONFLICT (token_hash) DO UPDATE SET expires_at = EXCLUDED.expires_at""",
            {"t": token},
        )
    await rollup_all(settings)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    params = {"from": START.strftime(iso), "to": END.strftime(iso)}
    results: dict[str, list[float]] = {"report": [], "hourly": [], "raw": []}
    failed: dict[str, Counter[str]] = {"report": Counter(), "hourly": Counter()}
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "GEO_RUN_WORKERS_IN_PROCESS": "false",
        "GEO_TOKEN_CACHE_SECONDS": "0",
        "GEO_LOG_LEVEL": "WARNING",
        # The hourly report's 720 points are ~2,000 new figures when first asked, far past the
        # service's default data access budget (200 epsilon a day): it would be refused 429
        # every time (by design, nothing is recorded). The budget is lifted to time the work;
        # what each report spent is printed.
        "GEO_REPORT_EPSILON_PER_DAY": os.environ.get("EPSILON_PER_DAY", "1000000"),
        "PYTHONPATH": str(ROOT),
    }
    server = Proc(
        [sys.executable, "-m", "geo", "serve", "--port", str(PORT)],
        env=env,
        cwd=ROOT,
        probe=f"http://127.0.0.1:{PORT}/healthz",
    )
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", timeout=120) as client,
        await psycopg.AsyncConnection.connect(URL, autocommit=True) as raw,
    ):
        server.__enter__()
        headers = {"Authorization": f"Bearer {token}"}
        body = None
        for i in range(RUNS + 2):  # two warm-up rounds
            for name, granularity in (("report", "day"), ("hourly", "hour")):
                t0, cpu0 = time.perf_counter(), server.cpu_seconds()
                try:
                    response = await client.get(
                        "/v1/campaigns/1/report",
                        headers=headers,
                        params={**params, "granularity": granularity},
                    )
                except httpx.HTTPError as exc:  # not answered: counted, not dropped
                    failed[name][type(exc).__name__] += 1
                    log(f"{name}: {exc!r}")
                    continue
                elapsed = (time.perf_counter() - t0) * 1000
                if response.status_code != 200:  # counted (warm-up rounds too), not timed
                    failed[name][str(response.status_code)] += 1
                    log(f"{name}: {response.status_code} {response.text[:300]}")
                    continue
                if name == "report":
                    body = body or response.json()
                if i == 0:
                    SPENT[name] = await epsilon_spent(raw) - sum(SPENT.values())
                if i >= 2:
                    results[name].append(elapsed)
                    CPU_MS.setdefault(name, []).append(1000 * (server.cpu_seconds() - cpu0))
            t0 = time.perf_counter()
            exact = await (
                await raw.execute(
                    """
                SELECT count(*), count(DISTINCT viewer_id), sum(cost_milli_yen)
                FROM ad_impressions WHERE campaign_id = 1
                  AND served_at >= %(f)s AND served_at < %(t)s
                  AND id >= geo_id_floor(%(f)s) AND id < geo_id_floor(%(t)s)""",
                    {"f": START, "t": END},
                )
            ).fetchone()
            if i >= 2:
                results["raw"].append((time.perf_counter() - t0) * 1000)
        server.__exit__()
    report(results, failed, body, exact)


CPU_MS: dict[str, list[float]] = {}
SPENT: dict[str, float] = {}  # epsilon the first report of each kind spent (new figures)


async def epsilon_spent(conn: psycopg.AsyncConnection) -> float:
    row = await (
        await conn.execute("SELECT coalesce(sum(epsilon), 0) FROM report_access")
    ).fetchone()
    return float(row[0]) if row else 0.0


def report(
    results: dict[str, list[float]],
    failed: dict[str, Counter[str]],
    body: dict | None,
    exact: tuple,
) -> None:
    raw50, raw95 = pct(results["raw"], 50), pct(results["raw"], 95)
    sent = RUNS + 2
    print(f"\nimpressions={IMPRESSIONS:,} viewers<= {VIEWERS:,} runs={RUNS} (+2 warm-up)\n")
    print("| what | answered 200 | p50 ms | p95 ms | p50 / raw p50 | p95 / raw p95 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, label in (
        ("report", "report, 30 days by day (full HTTP)"),
        ("hourly", "report, 30 days by hour (720 points)"),
        ("raw", "raw COUNT(DISTINCT) over the ledger rows"),
    ):
        answered = f"{sent - sum(failed[name].values())}/{sent}" if name in failed else "-"
        if not results[name]:
            print(f"| {label} | {answered} | - | - | - | - |")
            continue
        p50, p95 = pct(results[name], 50), pct(results[name], 95)
        print(
            f"| {label} | {answered} | {p50:.1f} | {p95:.1f} "
            f"| {p50 / raw50:.3f} | {p95 / raw95:.3f} |"
        )
    for name in ("report", "hourly"):
        if failed[name]:
            print(f"not answered 200 ({name}): {dict(failed[name])}")
        if CPU_MS.get(name):
            print(f"server CPU per {name}: median {statistics.median(CPU_MS[name]):.1f} ms")
        if name in SPENT:
            print(
                f"epsilon spent by the first {name} (new figures; repeats are free): "
                f"{SPENT[name]:.1f}"
            )
    if ROLLUP:
        print(
            f"\nrollup build (paid before any report; the raw query needs none): "
            f"{ROLLUP['hours']:.0f} hours in {ROLLUP['total_s']:.1f} s = "
            f"{ROLLUP['mean_ms']:.1f} ms per hour (median batch {ROLLUP['p50_ms']:.1f}, "
            f"worst batch {ROLLUP['max_ms']:.1f} ms per hour), "
            f"{IMPRESSIONS / ROLLUP['total_s']:,.0f} ledger rows/s"
        )
    impressions, reach, spend = exact
    print(f"\nexact: impressions={impressions:,} reach={reach:,} spend_milli_yen={spend:,}")
    if body is None:
        print("report: never answered 200")
        return
    print(
        f"report: impressions={body['impressions']} reach={body['reach']} "
        f"spend_milli_yen={body['spend_milli_yen']} visits={body['visits']} "
        f"withheld={body['withheld']}"
    )
    if body["reach"] is not None:
        print(f"reach error (sketch + noise): {(body['reach'] - reach) / reach:+.3%}")


def main() -> None:
    if os.environ.get("BENCH_SKIP_BUILD") != "1":
        build()
    settings = Settings(
        database_url=URL,
        run_workers_in_process=False,
        token_cache_seconds=0,
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"),
    )
    asyncio.run(measure(settings))


if __name__ == "__main__":
    main()
