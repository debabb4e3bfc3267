#!/bin/sh
# Run once by the postgres image from /docker-entrypoint-initdb.d, on an empty data volume only (after
# 01-grafana-reader.sh and 02-runs-service.sh made the audit and runs databases): the login the backup service
# (ops/, compose service `backup`) runs pg_dump with.
#
#   lookout_backup  member of pg_read_all_data (SELECT on every table and sequence, USAGE on every schema, in
#                   every database, including tables made later: what pg_dump needs, and no writes);
#                   CONNECT on audit and runs, whose CONNECT 01 and 02 took from PUBLIC; read-only sessions
#
# The password comes from the environment (BACKUP_DB_PASSWORD) and reaches SQL only through a psql variable
# (:'name' quotes it as a literal). Safe to run again on a volume made before it existed:
#   docker compose exec -u postgres postgres sh /docker-entrypoint-initdb.d/05-backup.sh
set -e   # no -u: see 01-grafana-reader.sh

: "${BACKUP_DB_PASSWORD:?BACKUP_DB_PASSWORD must be set (see .env.example)}"

psql -v ON_ERROR_STOP=1 --no-psqlrc \
  --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v backup_password="$BACKUP_DB_PASSWORD" <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lookout_backup') AS absent \gset
\if :absent
CREATE ROLE lookout_backup LOGIN PASSWORD :'backup_password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
\else
ALTER ROLE lookout_backup PASSWORD :'backup_password';
\endif
GRANT pg_read_all_data TO lookout_backup;
-- pg_dump reads in a read-only repeatable-read transaction anyway; this keeps any other session read-only too.
ALTER ROLE lookout_backup SET default_transaction_read_only = on;
-- Only the databases that exist (both do in compose; a test server may have neither).
SELECT format('GRANT CONNECT ON DATABASE %I TO lookout_backup', datname)
  FROM pg_database WHERE datname IN ('audit', 'runs') \gexec
SQL
