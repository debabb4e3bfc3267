#!/usr/bin/env bash
# Restores a backup made by backup.sh into an empty database, in one transaction: it all applies or
# nothing does.   DATABASE_URL=postgres://…/audit_restore audit-api/scripts/restore.sh backup.sql
set -euo pipefail
in="${1:?usage: restore.sh <file.sql>}"
: "${DATABASE_URL:?set DATABASE_URL to the (empty) target database}"
psql --dbname="$DATABASE_URL" --single-transaction --set=ON_ERROR_STOP=1 --quiet --file="$in" >/dev/null
echo "restore: applied $in" >&2
