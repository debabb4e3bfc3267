#!/usr/bin/env bash
# Backs up the audit database to a plain SQL file: every table of the audit API (activity_events with
# all its monthly partitions, the retention run log, the migration log), schema and data.
#   DATABASE_URL=postgres://… audit-api/scripts/backup.sh /backups/audit-$(date +%F).sql
# Restore with audit-api/scripts/restore.sh. Tested by audit-api/test/backup.test.ts.
set -euo pipefail
out="${1:?usage: backup.sh <file.sql>}"
: "${DATABASE_URL:?set DATABASE_URL to the audit database}"
# --no-owner/--no-privileges: restorable into a database owned by another role (a staging copy).
pg_dump --dbname="$DATABASE_URL" --format=plain --no-owner --no-privileges \
  --table='activity_events*' --table=audit_retention_runs --table='audit_knex_migrations*' \
  --file="$out"
echo "backup: wrote $out ($(wc -c <"$out") bytes)" >&2
