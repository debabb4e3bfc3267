#!/usr/bin/env bash
# Builds the stack's upstream programs from their Go modules at the pinned versions, once per version,
# into .tools/stack/<program>-<version>/ (a finished build is a directory with a .done file; a second run
# does nothing). Usage: scripts/build-stack.sh [collector] [prometheus] [alertmanager] [blackbox-exporter]
#   [postgres-exporter]  (default: all)
#   collector     the OpenTelemetry Collector Builder (ocb) from collector/manifest.yaml; its directory name
#                 carries the manifest's hash (stack_dir), so a changed manifest builds a new Collector
#   prometheus    prometheus + promtool, through a wrapper module that repeats Prometheus's replace directive
#   alertmanager  alertmanager + amtool, from a copy of the module with an empty UI folder (see below)
#   blackbox-exporter, postgres-exporter
#                 not built: Debian's packages unpacked by scripts/install-exporters.sh (their Go modules are
#                 not served by this workplace's module proxy; no Go needed)
# Loki and Tempo are not built: this workplace's Go module policy refuses them (AGPL-3.0); see README.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/stack-versions.sh
source "$root/scripts/stack-versions.sh"
log() { echo "build-stack: $*" >&2; }

need_go() {
  command -v go >/dev/null && return 0
  echo "build-stack: Go (1.26 or newer) and the Go module proxy are needed to build the Collector, Prometheus and Alertmanager; install Go, or run ./lookout demo, which needs neither" >&2
  exit 1
}

tools="$root/.tools/stack"
mkdir -p "$tools"
# -modcacherw: a module cache that `rm -rf` can clear; -buildvcs=false: the sources sit inside this
# repository's checkout, whose commit is not theirs.
export GOFLAGS="${GOFLAGS:-} -modcacherw -buildvcs=false"
export CGO_ENABLED=0

# What `--version` and /api/v1/status/buildinfo report; upstream's Makefile sets the same through promu.
version_flags() { echo "-X github.com/prometheus/common/version.Version=$1 -X github.com/prometheus/common/version.Branch=HEAD"; }
# A program's directory (.tools/stack/$(stack_dir …)) is complete only once .done exists: a build killed
# halfway is redone. The loop below checks it; each build_ function starts from an empty directory.
built() { [[ -f "$tools/$1/.done" ]]; }
timed() {
  local name="$1"; shift
  local start=$SECONDS
  "$@"
  log "$name built in $((SECONDS - start)) s"
}

build_collector() {
  local dir="$tools/$(stack_dir collector)"
  rm -rf "$dir"; mkdir -p "$dir"
  # The builder generates a main package from the manifest and compiles it; output_path is overridden so
  # the manifest stays the same file users run it with.
  go run "go.opentelemetry.io/collector/cmd/builder@v$COLLECTOR_VERSION" \
    --config="$root/collector/manifest.yaml" --output-path="$dir/src" >"$dir/build.log" 2>&1 \
    || { tail -40 "$dir/build.log" >&2; return 1; }
  mkdir -p "$dir/bin" && mv "$dir/src/otelcol-lookout" "$dir/bin/"
  touch "$dir/.done"
}

build_prometheus() {
  local dir="$tools/$(stack_dir prometheus)"
  rm -rf "$dir"; mkdir -p "$dir/src" "$dir/bin"
  # `go install pkg@version` refuses a module whose go.mod has replace directives; a wrapper module that
  # requires it and repeats the directive builds the same packages. Without the builtinassets tag the
  # web UI is not embedded: the HTTP API, which is all the stack and the tests use, is.
  cat >"$dir/src/go.mod" <<MOD
module lookout.local/prometheus

go 1.26

require github.com/prometheus/prometheus $PROMETHEUS_MODULE_VERSION

replace cloud.google.com/go => cloud.google.com/go v0.123.0
MOD
  cat >"$dir/src/tools.go" <<'GO'
//go:build tools

// Pins the commands built from this wrapper module in go.mod and go.sum.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
GO
  (cd "$dir/src" && go mod tidy >"$dir/build.log" 2>&1 \
    && go build -trimpath -ldflags "$(version_flags "$PROMETHEUS_VERSION")" -o "$dir/bin/" \
      github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool >>"$dir/build.log" 2>&1) \
    || { tail -40 "$dir/build.log" >&2; return 1; }
  touch "$dir/.done"
}

build_alertmanager() {
  local dir="$tools/$(stack_dir alertmanager)"
  rm -rf "$dir"; mkdir -p "$dir/src" "$dir/bin"
  # ui/web.go embeds ui/app/dist, the compiled Elm UI, which the module zip does not carry (it is made by
  # `make` with npm and Elm): `go install …@v$ALERTMANAGER_VERSION` fails with "pattern app/dist: no
  # matching files found". Build from a copy of the module with a one-page dist that says so; the API
  # (/api/v2), which amtool, Prometheus and the tests use, is unaffected.
  (cd "$dir/src" && go mod download -json "github.com/prometheus/alertmanager@v$ALERTMANAGER_VERSION" >"$dir/download.json") \
    || { cat "$dir/download.json" >&2; return 1; }
  local module; module="$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' "$dir/download.json")"
  cp -r "$module" "$dir/src/alertmanager" && chmod -R u+w "$dir/src/alertmanager"
  mkdir -p "$dir/src/alertmanager/ui/app/dist"
  echo '<!doctype html><title>Alertmanager</title><p>Built without its web UI; the API is at /api/v2.' >"$dir/src/alertmanager/ui/app/dist/index.html"
  (cd "$dir/src/alertmanager" && go build -trimpath -ldflags "$(version_flags "$ALERTMANAGER_VERSION")" -o "$dir/bin/" ./cmd/alertmanager ./cmd/amtool >"$dir/build.log" 2>&1) \
    || { tail -40 "$dir/build.log" >&2; return 1; }
  touch "$dir/.done"
}

programs=("$@")
[[ ${#programs[@]} -gt 0 ]] || programs=(collector prometheus alertmanager blackbox-exporter postgres-exporter)
for program in "${programs[@]}"; do
  case "$program" in
    blackbox-exporter | postgres-exporter) bash "$root/scripts/install-exporters.sh" "$program" ;;
    collector | prometheus | alertmanager)
      if built "$(stack_dir "$program")"; then continue; fi
      need_go
      log "building $program (once per version, into .tools/stack/)"
      timed "$program" "build_$program"
      ;;
    *) echo "build-stack: unknown program $program (collector, prometheus, alertmanager, blackbox-exporter, postgres-exporter)" >&2; exit 2 ;;
  esac
done
