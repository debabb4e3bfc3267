#!/usr/bin/env bash
# Ensures a PostgreSQL server answers on 127.0.0.1:5432. Machines of this project's kind start one before
# the session; on a machine without it, install Debian's package, start the cluster and allow the
# loopback connections the tests make (trust for 127.0.0.1 only: this is a test server).
set -euo pipefail
log() { echo "setup: $*" >&2; }

ready() { command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; }

if ready; then exit 0; fi

if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  log "installing PostgreSQL from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi

version="$(ls /etc/postgresql | sort -V | tail -1)"
hba="/etc/postgresql/$version/main/pg_hba.conf"
if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
  sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
fi
log "starting PostgreSQL $version"
pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster --skip-systemctl-redirect "$version" main restart

for _ in $(seq 1 60); do
  if ready; then exit 0; fi
  sleep 0.5
done
log "PostgreSQL did not become ready on 127.0.0.1:5432"
exit 1
