#!/usr/bin/env bash
# Refresh requirements.lock (what scripts/setup.sh installs, every file hashed) from pyproject.toml.
# Pins already in the lock are kept; `bash scripts/lock.sh --upgrade` (or --upgrade-package NAME)
# moves them. Needs uv (`pip install uv`).
set -euo pipefail
cd "$(dirname "$0")/.."
UV=$(command -v uv || echo .venv/bin/uv)
exec "$UV" pip compile pyproject.toml --extra dev --generate-hashes \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  --custom-compile-command "bash scripts/lock.sh" -o requirements.lock "$@"
