#!/usr/bin/env bash
# Build the fan-out benchmark database `geo_bench_fanout` (drops it first). Loopback only.
#   - accounts + mutual friendships: the real Liu 2017 Gowalla graph (`geo import-friends`);
#   - follows: every friend follows the other (the graph has no follows; public check-ins reach
#     followers, so this makes a public check-in reach the author's friends);
#   - places: the 30,365 real Gowalla NYC venues (category 'other', source 'gowalla-nyc');
#   - tokens: one bearer token per account, minted straight into account_tokens as
#     sha256('bench-<account id>') (imported accounts cannot sign in; bench database only);
#   - one synthetic "celebrity" account followed by every graph account (the big-account phase).
set -euo pipefail
cd "$(dirname "$0")/.."
PGHOST=${PGHOST:-127.0.0.1}; PGUSER=${PGUSER:-postgres}; export PGHOST PGUSER
DB=${BENCH_DB:-geo_bench_fanout}
SEED=${SEED_DIR:-seed_data}
PY=${PY:-.venv/bin/python}
export DATABASE_URL="postgresql://$PGUSER@$PGHOST/$DB" PYTHONPATH="$PWD"

psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
  -c "CREATE DATABASE $DB"
$PY -m geo migrate
$PY -m geo import-friends "$SEED/gowalla_social_liu2017.tsv" --quiet

psql -X -q -d "$DB" -v ON_ERROR_STOP=1 <<SQL
CREATE TEMP TABLE venues (ref text, name text, lat float8, lon float8);
\copy venues FROM '$SEED/gowalla_nyc/gowalla_venues.nyc.csv' WITH (FORMAT text)
INSERT INTO places (name, name_norm, category, position, source, source_ref)
SELECT name, lower(regexp_replace(name, '[[:space:][:punct:]]', '', 'g')), 'other',
       ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography, 'gowalla-nyc', ref
FROM venues ON CONFLICT DO NOTHING;
INSERT INTO follows (follower_id, followee_id) SELECT a_id, b_id FROM friendships
ON CONFLICT DO NOTHING;
INSERT INTO accounts (handle, password_hash, kind) VALUES ('bench_celebrity', '!', 'member');
INSERT INTO follows (follower_id, followee_id)
SELECT a.id, c.id FROM accounts a, accounts c
WHERE c.handle = 'bench_celebrity' AND a.handle LIKE 'gw%';
INSERT INTO account_tokens (token_hash, account_id, expires_at)
SELECT sha256(convert_to('bench-' || id, 'UTF8')), id, now() + interval '30 days' FROM accounts;
ANALYZE;
SELECT (SELECT count(*) FROM accounts) AS accounts, (SELECT count(*) FROM friendships) AS friendships,
       (SELECT count(*) FROM follows) AS follows, (SELECT count(*) FROM places) AS places;
SQL
