#!/usr/bin/env bash
# Build the benchmark database `geo_bench`: migrate, seed the real venues, then pad to
# TARGET_ROWS (default 1,000,000) with SYNTHETIC places (source='synthetic'): real seeded venues
# inside the Tokyo box (lon 139.5-139.95, lat 35.5-35.85) copied with a random jitter of up to
# ~300 m. Loopback only. Drops any existing geo_bench.
set -euo pipefail
cd "$(dirname "$0")/.."
PGHOST=${PGHOST:-127.0.0.1}; PGUSER=${PGUSER:-postgres}; export PGHOST PGUSER
DB=${BENCH_DB:-geo_bench}
TARGET_ROWS=${TARGET_ROWS:-1000000}
export DATABASE_URL="postgresql://$PGUSER@$PGHOST/$DB"

psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
.venv/bin/geo migrate
.venv/bin/geo seed --quiet

# Bulk insert: drop the secondary indexes of places, INSERT ... SELECT generate_series, rebuild
# them from their own saved definitions (faster than maintaining GiST + trigram GIN per row).
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -v target="$TARGET_ROWS" <<'SQL'
\timing on
SELECT setseed(0.42);
CREATE TEMP TABLE saved_ix AS
  SELECT i.indexname, i.indexdef FROM pg_indexes i
  JOIN pg_index x ON x.indexrelid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass
  WHERE i.tablename = 'places' AND i.schemaname = 'public' AND NOT x.indisprimary
    AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid);
SELECT format('DROP INDEX %I', indexname) FROM saved_ix \gexec

CREATE TEMP TABLE tokyo AS
  SELECT row_number() OVER (ORDER BY id) AS k, name, name_norm, category, address,
         ST_X(position::geometry) AS lon, ST_Y(position::geometry) AS lat
  FROM places
  WHERE source IS DISTINCT FROM 'synthetic'
    AND ST_X(position::geometry) BETWEEN 139.5 AND 139.95
    AND ST_Y(position::geometry) BETWEEN 35.5 AND 35.85;
SELECT count(*) AS tokyo_sources FROM tokyo \gset
SELECT :target - count(*) AS missing FROM places \gset
\echo tokyo sources :tokyo_sources, synthetic rows to add :missing

-- Row n (1..missing) copies source ((n-1) % tokyo_sources) + 1, jittered by up to
-- +-0.0033 deg lat (~370 m) and +-0.004 deg lon (~360 m at 35.7 N).
INSERT INTO places (name, name_norm, category, position, address, source, source_ref)
SELECT t.name, t.name_norm, t.category,
       ST_SetSRID(ST_MakePoint(t.lon + (random() - 0.5) * 0.008,
                               t.lat + (random() - 0.5) * 0.0066), 4326)::geography,
       t.address, 'synthetic', 'syn-' || g.n
FROM generate_series(1, greatest(:missing, 0)) AS g(n)
JOIN tokyo t ON t.k = ((g.n - 1) % :tokyo_sources) + 1;

SELECT indexdef FROM saved_ix \gexec
ANALYZE places;
SELECT count(*) AS total, count(*) FILTER (WHERE source = 'synthetic') AS synthetic FROM places;
SQL
