#!/usr/bin/env bash
# First command: set up everything that is missing, load the real seed data, serve the API.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/geo seed
exec .venv/bin/geo serve --host "${GEO_HOST:-127.0.0.1}" --port "${GEO_PORT:-8000}" "$@"
