#!/usr/bin/env bash
# Second command: set up whatever is missing, then run the whole test suite on the real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Style is part of the suite: the same lint and format CI would reject.
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
# The architecture's rules (.importlinter, docs/architecture.md): layers, route and repository
# boundaries, no hidden imports.
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache
.venv/bin/mypy geo
exec .venv/bin/python -m pytest "$@"
