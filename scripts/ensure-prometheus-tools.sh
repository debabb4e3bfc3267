#!/usr/bin/env bash
# Ensures the real Prometheus and Alertmanager binaries the stack tests run: promtool, prometheus,
# amtool and prometheus-alertmanager, from Debian's packages (the only source this machine reaches).
# Debian 12 ships Prometheus 2.42 and Alertmanager 0.25, older than the pinned images; the tests say
# what that means for each check.
set -euo pipefail
log() { echo "setup: $*" >&2; }

missing=()
command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)
command -v amtool >/dev/null && command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
if [[ ${#missing[@]} -eq 0 ]]; then exit 0; fi

log "installing ${missing[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
# The packages' postinst scripts try to start services; there is no init system here, so forbid it.
policy=/usr/sbin/policy-rc.d
created_policy=false
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  created_policy=true
fi
trap '[[ $created_policy == true ]] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
