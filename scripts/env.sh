# Sourced by the project's scripts: puts the project's Node 24 first on PATH
# (npm's own `#!/usr/bin/env node` then runs on it too).
_lookout_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$_lookout_root/.tools/node/bin:$_lookout_root/node_modules/.bin:$PATH"
unset _lookout_root
