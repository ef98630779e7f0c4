#!/usr/bin/env python3
"""Benchmark GET /v1/places/nearby end to end (not a test). Loopback only, bounded in time.

For each uvicorn worker count (WORKERS, default "1 2") and each client count (CLIENTS, default
"1 8 32"), for DURATION seconds (default 10) each:
  full: `geo serve` hit by wrk (bench/nearby.lua: random Tokyo point, radius 1000, limit 20, token)
  bare: bench/bare_app.py under uvicorn with the same worker count, same wrk script
  raw:  the KNN-20 SQL alone via pgbench -M prepared (bench/nearby.pgbench); no HTTP, no workers
and prints a markdown table of requests/s, p50 and p99 with the ratios full/bare and full/raw.

    bench/places_nearby.sh                     # builds geo_bench (1,000,000 rows), then runs
    BENCH_SKIP_BUILD=1 bench/places_nearby.sh  # reuse an existing geo_bench
"""

import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from procs import Proc  # bench/ is on the path when this script runs

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DB = os.environ.get("BENCH_DB", "geo_bench")
DB_URL = f"postgresql://postgres@127.0.0.1/{DB}"
DURATION = int(os.environ.get("DURATION", "10"))
WARMUP = int(os.environ.get("WARMUP", "3"))
CLIENTS = [int(c) for c in os.environ.get("CLIENTS", "1 8 32").split()]
WORKERS = [int(w) for w in os.environ.get("WORKERS", "1 2").split()]
FULL_PORT = int(os.environ.get("FULL_PORT", "8000"))
BARE_PORT = int(os.environ.get("BARE_PORT", "8001"))
ENV = {
    **os.environ,
    "DATABASE_URL": DB_URL,
    "GEO_LOG_LEVEL": "WARNING",
    # A benchmark is a dev setup (the public secret is fine) and an operator's load test: its
    # loopback clients skip the per-address sign-up limits (GEO_RATE_LIMIT_EXEMPT).
    "GEO_ALLOW_DEV_SECRET": "true",
    "GEO_RATE_LIMIT_EXEMPT": "127.0.0.1,::1",
}
WRK_LINE = re.compile(
    r"BENCH requests=(\d+) seconds=([\d.]+) rps=([\d.]+) p50_ms=([\d.]+) "
    r"p99_ms=([\d.]+) non2xx=(\d+) socket_errors=(\d+)"
)


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, check=True, capture_output=True, text=True, timeout=timeout, env=ENV, cwd=ROOT, **kw
    )


def get_token() -> str:
    body = json.dumps(
        {
            "handle": "bench" + secrets.token_hex(6),
            "password": secrets.token_hex(12),
            "kind": "member",
        }
    ).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{FULL_PORT}/v1/accounts",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["token"]


def wrk(port: int, clients: int, seconds: int, token: str = "") -> dict:
    cmd = [
        "wrk",
        "-t1",
        f"-c{clients}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH / "nearby.lua"),
        f"http://127.0.0.1:{port}",
        "--",
        token,
    ]
    out = run(cmd, timeout=seconds + 30).stdout
    m = WRK_LINE.search(out)
    if not m:
        raise RuntimeError(f"no BENCH line in wrk output:\n{out}")
    n, _, rps, p50, p99, non2xx, errs = m.groups()
    if int(non2xx) or int(errs):
        log(f"WARNING port {port} c={clients}: {non2xx} non-2xx, {errs} socket errors of {n}")
    return {
        "rps": float(rps),
        "p50": float(p50),
        "p99": float(p99),
        "n": int(n),
        "bad": int(non2xx) + int(errs),
    }


def pgbench(clients: int, seconds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        prefix = str(Path(tmp) / "pgb")
        cmd = [
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
            "-f",
            str(BENCH / "nearby.pgbench"),
            "-l",
            "--log-prefix",
            prefix,
            DB,
        ]
        out = subprocess.run(
            cmd,
            check=True,
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            env={**ENV, "PGOPTIONS": "-c jit=off"},
            cwd=ROOT,
        ).stdout
        tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
        lat_us = []
        for f in Path(tmp).glob("pgb*"):
            for line in f.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 4 and parts[3] == "0":  # script 0; field 2 is latency in us
                    lat_us.append(int(parts[2]))
        q = statistics.quantiles(lat_us, n=100, method="inclusive")
        return {"rps": tps, "p50": q[49] / 1000, "p99": q[98] / 1000, "n": len(lat_us), "bad": 0}


def series(server: Proc, port: int, token: str = "") -> dict[int, dict]:
    wrk(port, max(CLIENTS), WARMUP, token)  # warm pools, statement caches, buffers
    results = {}
    for c in CLIENTS:
        cpu_before = server.cpu_seconds()
        results[c] = wrk(port, c, DURATION, token)
        cpu = server.cpu_seconds() - cpu_before
        results[c]["cpu_ms"] = 1000 * cpu / max(results[c]["n"], 1)
        log(f"port {port} c={c}: {results[c]}")
    return results


def main() -> int:
    if not os.environ.get("BENCH_SKIP_BUILD"):
        log("building geo_bench (bench/build_db.sh)")
        subprocess.run([str(BENCH / "build_db.sh")], check=True, cwd=ROOT, timeout=1800)
    count = run(
        [
            "psql",
            "-X",
            "-At",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            DB,
            "-c",
            "SELECT count(*), count(*) FILTER (WHERE source = 'synthetic') FROM places",
        ],
        timeout=60,
    ).stdout.strip()
    log(f"places total|synthetic: {count}")

    log("raw SQL via pgbench")
    pgbench(max(CLIENTS), WARMUP)
    raw = {}
    for c in CLIENTS:
        raw[c] = pgbench(c, DURATION)
        log(f"raw c={c}: {raw[c]}")

    rows = []
    for w in WORKERS:
        full_cmd = [
            str(ROOT / ".venv/bin/geo"),
            "serve",
            "--port",
            str(FULL_PORT),
            "--workers",
            str(w),
        ]
        with Proc(
            full_cmd, env=ENV, cwd=ROOT, probe=f"http://127.0.0.1:{FULL_PORT}/healthz"
        ) as server:
            token = get_token()
            full = series(server, FULL_PORT, token)
        bare_cmd = [
            str(ROOT / ".venv/bin/uvicorn"),
            "bench.bare_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(BARE_PORT),
            "--workers",
            str(w),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        probe = f"http://127.0.0.1:{BARE_PORT}/v1/places/nearby?lat=35.68&lon=139.76"
        with Proc(bare_cmd, env=ENV, cwd=ROOT, probe=probe) as server:
            bare = series(server, BARE_PORT)
        for c in CLIENTS:
            rows.append((w, c, full[c], bare[c], raw[c]))

    print(
        f"\nplaces in {DB} (total|synthetic): {count}; {DURATION} s per cell, wrk -t1, "
        f"pgbench -M prepared\n"
    )
    print(
        "| workers | clients | full req/s | full p50 ms | full p99 ms | bare req/s | bare p50 ms "
        "| bare p99 ms | raw SQL tx/s | raw p50 ms | raw p99 ms | full/bare | full/raw "
        "| full CPU ms/req | bare CPU ms/req | bare/full CPU |"
    )
    print("|" + "---:|" * 16)
    for w, c, f, b, r in rows:
        print(
            f"| {w} | {c} | {f['rps']:.0f} | {f['p50']:.1f} | {f['p99']:.1f} | {b['rps']:.0f} | "
            f"{b['p50']:.1f} | {b['p99']:.1f} | {r['rps']:.0f} | {r['p50']:.2f} | "
            f"{r['p99']:.2f} | "
            f"{f['rps'] / b['rps']:.2f}x | {f['rps'] / r['rps']:.2f}x | {f['cpu_ms']:.2f} | "
            f"{b['cpu_ms']:.2f} | {b['cpu_ms'] / f['cpu_ms']:.2f}x |"
        )
    bad = [(w, c) for w, c, f, b, _ in rows if f["bad"] or b["bad"]]
    if bad:
        print(f"\nWARNING: non-2xx or socket errors in {bad}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
