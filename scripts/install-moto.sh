#!/usr/bin/env bash
# Puts moto's S3-compatible server (PyPI `moto[server]`, pinned) into .tools/moto-<version>/, a Python venv of
# its own, once: a finished install is a directory with a .done file, and a second run only prints the path.
# The ops tests start it on loopback as a real S3 endpoint for the backup service's upload (ops/test/s3.test.ts).
# Prints the moto_server program's path on stdout; progress goes to stderr.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { echo "install-moto: $*" >&2; }

MOTO_VERSION=5.2.5
dir="$root/.tools/moto-$MOTO_VERSION"
if [[ ! -f "$dir/.done" ]]; then
  python="$(command -v python3 || true)"
  [[ -n "$python" ]] || { log "python3 (3.9 or newer, with its venv module) is needed to install moto $MOTO_VERSION"; exit 1; }
  log "installing moto[server] $MOTO_VERSION into .tools/moto-$MOTO_VERSION (a venv of its own)"
  rm -rf "$dir"
  "$python" -m venv "$dir" || { log "python3 -m venv failed: on Debian, apt-get install python3-venv"; exit 1; }
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >"$dir/install.log" 2>&1 \
    || { tail -40 "$dir/install.log" >&2; exit 1; }
  "$dir/bin/moto_server" --help >/dev/null || { log "moto_server does not start"; exit 1; }
  touch "$dir/.done"
fi
echo "$dir/bin/moto_server"
