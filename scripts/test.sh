#!/usr/bin/env bash
# Second command: set up whatever is missing, then run the whole test suite on the real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
