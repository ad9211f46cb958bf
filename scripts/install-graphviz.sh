#!/usr/bin/env bash
# Installs Graphviz (`dot`), which `dify-on-aws diagram` and tests/test_diagram.py use to render the
# architecture diagram to SVG and PNG offline. Idempotent: does nothing when `dot` is already on PATH.
# Installing needs root (CI runs as root); the package's fonts come in as its dependencies.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

log() { echo "install-graphviz: $*"; }

if command -v dot >/dev/null 2>&1; then
  log "graphviz already installed ($(command -v dot))"
else
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "install-graphviz: must run as root to install graphviz (or: sudo apt-get install graphviz)" >&2
    exit 1
  fi
  log "installing graphviz"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends graphviz >/dev/null
fi

dot -V
