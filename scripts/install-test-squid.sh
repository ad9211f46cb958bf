#!/usr/bin/env bash
# Installs the Squid binary that tests/test_ssrf_proxy.py needs (`squid -k parse` and a throwaway
# proxy on loopback). Idempotent; run as root (CI does). It only installs: the package's own system
# service is stopped and disabled, because the pytest fixture starts its own squid with its own config.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

log() { echo "install-test-squid: $*"; }

squid_bin() {
  command -v squid 2>/dev/null || { [[ -x /usr/sbin/squid ]] && echo /usr/sbin/squid; } || true
}

if [[ -n "$(squid_bin)" ]]; then
  log "squid already installed ($(squid_bin))"
else
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "install-test-squid: must run as root to install squid" >&2
    exit 1
  fi
  log "installing squid"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends squid >/dev/null
fi

# The post-install script may have started (and enabled) the system service; the tests never use it.
if [[ "$(id -u)" -eq 0 ]]; then
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl disable --now squid >/dev/null 2>&1 || true
  elif command -v service >/dev/null 2>&1; then
    service squid stop >/dev/null 2>&1 || true
  fi
  if command -v update-rc.d >/dev/null 2>&1; then
    update-rc.d squid disable >/dev/null 2>&1 || true
  fi
fi

"$(squid_bin)" -v | head -n 1
