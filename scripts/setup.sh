#!/usr/bin/env bash
# Install whatever is missing on a Debian/Ubuntu machine (root or sudo): the Python environment,
# PostGIS for the installed PostgreSQL, Redis; start the servers if they are down; create the
# database; migrate. Idempotent: a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

DATABASE_URL=${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/geo}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export DATABASE_URL REDIS_URL
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
APT_UPDATED=""

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
apt_install() {
  [ -n "$APT_UPDATED" ] || { $SUDO apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}
pg_admin_url() { echo "${DATABASE_URL%/*}/postgres"; }
pg_answers() { psql "$(pg_admin_url)" -Atqc 'SELECT 1' >/dev/null 2>&1; }
redis_answers() { redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; }

# 1. PostgreSQL + PostGIS
command -v psql >/dev/null || { log "installing the PostgreSQL client"; apt_install postgresql-client; }
if ! pg_answers; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    log "installing PostgreSQL"; apt_install postgresql
  fi
  log "starting PostgreSQL"
  for version in $(ls /etc/postgresql); do
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 30); do pg_answers && break; sleep 1; done
  pg_answers || { echo "PostgreSQL does not answer at $DATABASE_URL" >&2; exit 1; }
fi
if [ -z "$(psql "$(pg_admin_url)" -Atqc "SELECT 1 FROM pg_available_extensions WHERE name='postgis'")" ]; then
  major=$(psql "$(pg_admin_url)" -Atqc "SHOW server_version_num" | cut -c1-2)
  log "installing postgresql-$major-postgis-3"
  apt_install "postgresql-$major-postgis-3"
fi
# Reach sketches (reports): the hll extension, created by migration 0005.
if [ -z "$(psql "$(pg_admin_url)" -Atqc "SELECT 1 FROM pg_available_extensions WHERE name='hll'")" ]; then
  major=$(psql "$(pg_admin_url)" -Atqc "SHOW server_version_num" | cut -c1-2)
  log "installing postgresql-$major-hll"
  apt_install "postgresql-$major-hll"
fi
# The dashboard's browser test drives Debian's Chromium (never a downloaded browser).
[ -x /usr/bin/chromium ] || { log "installing chromium"; apt_install chromium; }
db_name=${DATABASE_URL##*/}; db_name=${db_name%%\?*}
if [ -z "$(psql "$(pg_admin_url)" -Atqc "SELECT 1 FROM pg_database WHERE datname='$db_name'")" ]; then
  log "creating database $db_name"; psql "$(pg_admin_url)" -qc "CREATE DATABASE \"$db_name\""
fi

# 2. Redis
if ! redis_answers; then
  command -v redis-server >/dev/null || { log "installing Redis"; apt_install redis-server; }
  log "starting Redis"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/geo.log
  for _ in $(seq 1 30); do redis_answers && break; sleep 0.5; done
  redis_answers || { echo "Redis does not answer at $REDIS_URL" >&2; exit 1; }
fi
# The tests also start a private local Redis Cluster, which needs the server binary itself.
command -v redis-server >/dev/null || { log "installing redis-server"; apt_install redis-server; }

# 3. Python environment
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv 2>/dev/null || { apt_install python3-venv; "$PYTHON" -m venv .venv; }
fi
stamp=.venv/.installed-$(cat pyproject.toml requirements.lock | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  log "installing Python packages (requirements.lock, hashes checked)"
  # Every dependency at its locked version and hash (bash scripts/lock.sh refreshes the lock);
  # then the project itself, editable, with nothing more.
  .venv/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements.lock \
    2>&1 | grep -v -i "^WARNING" || true
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e . \
    2>&1 | grep -v -i "^WARNING" || true
  .venv/bin/python -c "import geo.app, fastapi, geoalchemy2, schemathesis" && touch "$stamp"
fi

# 4. Schema
.venv/bin/geo migrate >/dev/null
log "ready: PostGIS $(psql "$DATABASE_URL" -Atqc 'SELECT postgis_lib_version()'), Redis $(redis-cli -u "$REDIS_URL" info server | grep -m1 redis_version | cut -d: -f2 | tr -d '\r')"
