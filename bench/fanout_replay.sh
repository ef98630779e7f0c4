#!/usr/bin/env bash
# End-to-end ingest + fan-out benchmark: see bench/fanout_replay.py. Env: BENCH_SKIP_BUILD,
# STEP_SECONDS (20), CONNS (32), FRACTIONS ("0.25 0.5 0.75 1.0"), FANOUT_WORKERS (1),
# CELEB_EVERY_S (5), BACKLOG (5000), BENCH_DB (geo_bench_fanout), BENCH_REDIS_URL (DB 11), PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout 1800 "${PY:-.venv/bin/python}" bench/fanout_replay.py "$@"
