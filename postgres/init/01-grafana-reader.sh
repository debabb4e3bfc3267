#!/bin/sh
# Run once by the postgres image (postgres:17.10-bookworm) from /docker-entrypoint-initdb.d, on an empty
# data volume only: changing a password later means ALTER ROLE, not editing this file.
#
#   audit           the audit database, owned by audit_api
#   audit_api       the audit API's login; owns the schema objects its knex migrations and its monthly
#                   partition job create
#   grafana_reader  Grafana's "audit-postgres" datasource: CONNECT + USAGE + SELECT, nothing else,
#                   read-only sessions; default privileges make audit_api's future tables and
#                   partitions readable without re-granting
#
# Passwords come from the environment (AUDIT_API_DB_PASSWORD, GRAFANA_READER_PASSWORD) and reach SQL
# only through psql variables (:'name' quotes them as literals), never pasted into the SQL text.
set -e   # no -u: the postgres entrypoint sources a non-executable script, and -u would leak into it

: "${AUDIT_API_DB_PASSWORD:?AUDIT_API_DB_PASSWORD must be set (see .env.example)}"
: "${GRAFANA_READER_PASSWORD:?GRAFANA_READER_PASSWORD must be set (see .env.example)}"

psql -v ON_ERROR_STOP=1 --no-psqlrc \
  --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v audit_api_password="$AUDIT_API_DB_PASSWORD" \
  -v grafana_reader_password="$GRAFANA_READER_PASSWORD" <<'SQL'
CREATE ROLE audit_api LOGIN PASSWORD :'audit_api_password';
CREATE ROLE grafana_reader LOGIN PASSWORD :'grafana_reader_password'
  NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT CONNECTION LIMIT 10;
-- A dashboard query can never write, even through a function, and cannot run away.
ALTER ROLE grafana_reader SET default_transaction_read_only = on;
ALTER ROLE grafana_reader SET statement_timeout = '30s';

CREATE DATABASE audit OWNER audit_api;
REVOKE ALL ON DATABASE audit FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE audit TO audit_api;
GRANT CONNECT ON DATABASE audit TO grafana_reader;

\connect audit

-- Since PostgreSQL 15 the public schema belongs to pg_database_owner (here: audit_api) and PUBLIC has
-- no CREATE on it; also take PUBLIC's USAGE away so only the two roles can see it.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO grafana_reader;

-- Tables that already exist (none on a fresh volume) and every table or partition audit_api creates.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO grafana_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE audit_api IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;
SQL
