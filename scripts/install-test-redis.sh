#!/usr/bin/env bash
# Installs the Redis server that tests/runtime/test_queue_depth_redis.py needs (the queue-depth reader
# against a real server, plain and TLS). Idempotent; run as root (CI does). It only installs: the
# package's own system service is stopped and disabled, because the pytest fixture starts throwaway
# servers on free loopback ports with their own settings. Debian 12's redis-server is built with TLS.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

log() { echo "install-test-redis: $*"; }

redis_bin() {
  command -v redis-server 2>/dev/null || { [[ -x /usr/bin/redis-server ]] && echo /usr/bin/redis-server; } || true
}

if [[ -n "$(redis_bin)" ]]; then
  log "redis-server already installed ($(redis_bin))"
else
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "install-test-redis: must run as root to install redis-server" >&2
    exit 1
  fi
  log "installing redis-server"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

# The post-install script may have started (and enabled) the system service; the tests never use it.
if [[ "$(id -u)" -eq 0 ]]; then
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl disable --now redis-server >/dev/null 2>&1 || true
  elif command -v service >/dev/null 2>&1; then
    service redis-server stop >/dev/null 2>&1 || true
  fi
  if command -v update-rc.d >/dev/null 2>&1; then
    update-rc.d redis-server disable >/dev/null 2>&1 || true
  fi
fi

"$(redis_bin)" --version
