#!/bin/sh
# Run once by the postgres image from /docker-entrypoint-initdb.d, on an empty data volume only (after
# 01-grafana-reader.sh made grafana_reader and 02-runs-service.sh made the runs database): lets Grafana's
# "runs-postgres" datasource read the workflow runs.
#
#   grafana_reader  CONNECT on runs (02 took it from PUBLIC), USAGE on its public schema, and SELECT on
#                   every table runs_service creates there: its tables come later, from its knex
#                   migrations, so default privileges grant them as they are made. Still read-only
#                   sessions with a statement timeout (01).
#
# No password here: the role exists already. Safe to run again, e.g. on a volume made before it existed
# (it then also grants the tables that exist):
#   docker compose exec -u postgres postgres sh /docker-entrypoint-initdb.d/04-grafana-runs-reader.sh
set -e   # no -u: see 01-grafana-reader.sh

psql -v ON_ERROR_STOP=1 --no-psqlrc \
  --username "${POSTGRES_USER:-postgres}" --dbname runs <<'SQL'
GRANT CONNECT ON DATABASE runs TO grafana_reader;
GRANT USAGE ON SCHEMA public TO grafana_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO grafana_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE runs_service IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;
SQL
