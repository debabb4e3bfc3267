#!/usr/bin/env bash
# Makes this machine ready to build, test and benchmark Lookout; safe to run again (each step checks first).
#  1. Node.js 24 into .tools/node (the machine's own node is left alone)
#  2. PostgreSQL: started if installed but down, installed from Debian's packages if absent
#     (the stack's Go programs are built by scripts/build-stack.sh, from ./lookout test and ./lookout stack)
#  3. npm packages (npm ci, skipped when node_modules already matches package-lock.json)
#  4. the TypeScript build
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { echo "setup: $*" >&2; }

bash scripts/install-node.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh

bash scripts/ensure-postgres.sh

lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)-$(node --version)"
if [[ "$(cat node_modules/.lookout-lock 2>/dev/null || true)" != "$lock_hash" ]]; then
  log "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.lookout-lock
fi

log "building"
npm run build --silent
