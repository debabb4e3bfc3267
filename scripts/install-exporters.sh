#!/usr/bin/env bash
# Puts Debian's Prometheus exporters the stack scrapes into .tools/stack/<name>-<version>/ without installing
# them: `apt-get download` fetches the pinned .deb and `dpkg-deb -x` unpacks it, so no systemd service is
# installed or started and no root is needed beyond refreshing apt's package lists when they are missing.
# Usage: scripts/install-exporters.sh [blackbox-exporter] [postgres-exporter]  (default: both)
#   blackbox-exporter  prometheus-blackbox-exporter (HTTP probes of the services' health endpoints)
#   postgres-exporter  prometheus-postgres-exporter (PostgreSQL's statistics as pg_* metrics)
# The Collector's httpcheck and postgresql receivers would do the same jobs, but their Go modules are not
# served by this workplace's module proxy; docker-compose.yml runs the upstream images of these releases.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/stack-versions.sh
source "$root/scripts/stack-versions.sh"
log() { echo "install-exporters: $*" >&2; }

tools="$root/.tools/stack"
# Root runs apt directly; anyone else through sudo when there is one (as ensure-postgres.sh expects root).
as_root() { if [[ $EUID -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

# install <program> <Debian package> <Debian version> <binary inside the package>
install() {
  local program="$1" package="$2" version="$3" binary="$4"
  local dir="$tools/$(stack_dir "$program")"
  [[ -f "$dir/.done" ]] && return 0
  command -v apt-get >/dev/null || { log "$package needs apt-get (Debian or Ubuntu); install $program $version yourself into $dir/bin"; exit 1; }
  local offered
  offered="$(apt-cache policy "$package" 2>/dev/null | sed -n 's/^ *Candidate: //p')"
  if [[ -z "$offered" || "$offered" == "(none)" ]]; then
    log "apt knows no $package yet: refreshing the package lists (apt-get update)"
    as_root apt-get update -qq || { log "apt-get update failed (root or sudo needed)"; exit 1; }
    offered="$(apt-cache policy "$package" 2>/dev/null | sed -n 's/^ *Candidate: //p')"
  fi
  # apt-get download takes any version the lists carry; refuse all but the pinned one, by name.
  if ! apt-cache madison "$package" | awk -F'|' '{gsub(/ /, "", $2); print $2}' | grep -qxF "$version"; then
    log "apt offers $package ${offered:-nothing}, not the pinned $version (scripts/stack-versions.sh): update the pin deliberately, with docker-compose.yml's image"
    exit 1
  fi
  log "installing $package $version into .tools/stack/$(stack_dir "$program") (unpacked, no service)"
  rm -rf "$dir"; mkdir -p "$dir/deb" "$dir/bin"
  (cd "$dir/deb" && apt-get download -q "$package=$version" >"$dir/download.log" 2>&1) \
    || { cat "$dir/download.log" >&2; exit 1; }
  dpkg-deb -x "$dir"/deb/*.deb "$dir/root" && rm -rf "$dir/deb"
  ln -s "../root/usr/bin/$binary" "$dir/bin/$program"
  "$dir/bin/$program" --version >"$dir/version.txt" 2>&1 || { cat "$dir/version.txt" >&2; exit 1; }
  touch "$dir/.done"
}

programs=("$@")
[[ ${#programs[@]} -gt 0 ]] || programs=(blackbox-exporter postgres-exporter)
for program in "${programs[@]}"; do
  case "$program" in
    blackbox-exporter) install blackbox-exporter prometheus-blackbox-exporter "$BLACKBOX_EXPORTER_DEBIAN_VERSION" prometheus-blackbox-exporter ;;
    postgres-exporter) install postgres-exporter prometheus-postgres-exporter "$POSTGRES_EXPORTER_DEBIAN_VERSION" prometheus-postgres-exporter ;;
    *) echo "install-exporters: unknown program $program (blackbox-exporter, postgres-exporter)" >&2; exit 2 ;;
  esac
done
