#!/usr/bin/env bash
# Installs the PostgreSQL server and pgvector that tests/runtime/test_db_init_postgres.py needs.
# Idempotent; run as root (CI does). It only installs: the pytest fixture starts a throwaway server.
#
# pgvector: the package postgresql-15-pgvector exists only where the PGDG apt repository is
# configured; Debian 12 itself does not ship pgvector. When apt cannot find that package, the
# extension is built from Debian's own pgvector source package (trixie) against
# postgresql-server-dev-15, without touching the machine's apt sources.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
VECTOR_CONTROL="/usr/share/postgresql/${PG_MAJOR}/extension/vector.control"
export DEBIAN_FRONTEND=noninteractive

log() { echo "install-test-postgres: $*"; }

installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

apt_updated=0
apt_update_once() {
  if [[ $apt_updated -eq 0 ]]; then
    apt-get update -qq
    apt_updated=1
  fi
}

apt_install() {
  apt_update_once
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [[ "$(id -u)" -ne 0 ]] && { ! installed postgresql || [[ ! -f "$VECTOR_CONTROL" ]]; }; then
  echo "install-test-postgres: must run as root to install PostgreSQL/pgvector" >&2
  exit 1
fi

if installed postgresql && [[ -x "${PG_BIN}/initdb" ]]; then
  log "postgresql already installed"
else
  log "installing postgresql"
  apt_install postgresql
fi

if [[ -f "$VECTOR_CONTROL" ]]; then
  log "pgvector already installed"
  exit 0
fi

apt_update_once
if apt-cache show "postgresql-${PG_MAJOR}-pgvector" >/dev/null 2>&1; then
  log "installing postgresql-${PG_MAJOR}-pgvector"
  apt_install "postgresql-${PG_MAJOR}-pgvector"
  exit 0
fi

log "postgresql-${PG_MAJOR}-pgvector not in the apt sources; building pgvector from Debian's source package"
apt_install postgresql-server-dev-"${PG_MAJOR}" make gcc

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial"
# A private sources list and lists dir: the machine's own apt configuration stays as it is.
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
  >"$work/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$work/sources.list"
  -o "Dir::Etc::SourceParts=$work/none"
  -o "Dir::State::Lists=$work/lists"
  -o "APT::Sandbox::User=root"
)
apt-get "${apt_opts[@]}" update -qq
(cd "$work" && apt-get "${apt_opts[@]}" source -qq --download-only pgvector >/dev/null)
orig="$(find "$work" -maxdepth 1 -name 'pgvector_*.orig.tar.*' | head -n 1)"
if [[ -z "$orig" ]]; then
  echo "install-test-postgres: could not download the pgvector source package" >&2
  exit 1
fi
mkdir "$work/src"
tar -xf "$orig" -C "$work/src" --strip-components=1
# OPTFLAGS="" drops pgvector's default -march=native, as Debian's own build does.
make -s -C "$work/src" PG_CONFIG="${PG_BIN}/pg_config" OPTFLAGS="" >/dev/null
make -s -C "$work/src" PG_CONFIG="${PG_BIN}/pg_config" OPTFLAGS="" install >/dev/null
log "pgvector built and installed from $(basename "$orig")"
