#!/usr/bin/env bash
# End-to-end nearby benchmark: see bench/places_nearby.py. Env: BENCH_SKIP_BUILD, DURATION,
# CLIENTS ("1 8 32"), WORKERS ("1 2"), BENCH_DB (geo_bench).
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout 1800 .venv/bin/python bench/places_nearby.py "$@"
