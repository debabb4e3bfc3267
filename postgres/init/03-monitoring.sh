#!/bin/sh
# Run once by the postgres image from /docker-entrypoint-initdb.d, on an empty data volume only (after
# 01-grafana-reader.sh and 02-runs-service.sh): the login postgres-exporter connects with.
#
#   lookout_monitor  member of pg_monitor (read every pg_stat_* view, pg_settings and database sizes;
#                    no table data); CONNECT on audit and runs, whose CONNECT 01 and 02 took from PUBLIC,
#                    so the exporter can read their per-table statistics (postgres-exporter/queries.yaml)
#
# The password comes from the environment (MONITOR_DB_PASSWORD) and reaches SQL only through a psql
# variable (:'name' quotes it as a literal). Safe to run again on a volume made before it existed:
#   docker compose exec -u postgres postgres sh /docker-entrypoint-initdb.d/03-monitoring.sh
set -e   # no -u: see 01-grafana-reader.sh

: "${MONITOR_DB_PASSWORD:?MONITOR_DB_PASSWORD must be set (see .env.example)}"

psql -v ON_ERROR_STOP=1 --no-psqlrc \
  --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v monitor_password="$MONITOR_DB_PASSWORD" <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lookout_monitor') AS absent \gset
\if :absent
CREATE ROLE lookout_monitor LOGIN PASSWORD :'monitor_password';
\else
ALTER ROLE lookout_monitor PASSWORD :'monitor_password';
\endif
-- pg_monitor: pg_read_all_settings, pg_read_all_stats, pg_stat_scan_tables; no table data, no writes.
GRANT pg_monitor TO lookout_monitor;
-- Only the databases that exist (both do in compose; a test server may have neither).
SELECT format('GRANT CONNECT ON DATABASE %I TO lookout_monitor', datname)
  FROM pg_database WHERE datname IN ('audit', 'runs') \gexec
SQL
