#!/bin/sh
# Run once by the postgres image from /docker-entrypoint-initdb.d, on an empty data volume only (after
# 01-grafana-reader.sh): the example runs service's own database and login.
#
#   runs          the workflow-runs database, owned by runs_service
#   runs_service  the example runs service's login; owns what its knex migrations create
#
# The password comes from the environment (RUNS_DB_PASSWORD) and reaches SQL only through a psql
# variable (:'name' quotes it as a literal).
set -e   # no -u: see 01-grafana-reader.sh

: "${RUNS_DB_PASSWORD:?RUNS_DB_PASSWORD must be set (see .env.example)}"

psql -v ON_ERROR_STOP=1 --no-psqlrc \
  --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v runs_service_password="$RUNS_DB_PASSWORD" <<'SQL'
CREATE ROLE runs_service LOGIN PASSWORD :'runs_service_password';
CREATE DATABASE runs OWNER runs_service;
REVOKE ALL ON DATABASE runs FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE runs TO runs_service;
SQL
