#!/usr/bin/env bash
# First command: set up everything that is missing, load the real seed data, serve the API.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The service refuses the public default secret: make a local one once and keep it (gitignored),
# so signed click ids and dashboard cookies survive restarts. An operator's GEO_SECRET_KEY wins.
if [ -z "${GEO_SECRET_KEY:-}" ]; then
  secret_file=.local/secret_key
  if [ ! -s "$secret_file" ]; then
    mkdir -p .local && (umask 077 && .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(48))" > "$secret_file")
  fi
  GEO_SECRET_KEY=$(cat "$secret_file")
  export GEO_SECRET_KEY
fi
.venv/bin/geo seed
exec .venv/bin/geo serve --host "${GEO_HOST:-127.0.0.1}" --port "${GEO_PORT:-8000}" "$@"
