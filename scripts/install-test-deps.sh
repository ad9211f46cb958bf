#!/usr/bin/env bash
# Everything the tests need besides Python and Node packages, in one command (as root; Debian packages):
# PostgreSQL with pgvector (database-initialisation SQL), Squid (SSRF proxy), Graphviz (diagrams) and Redis
# (the Celery queue-depth reader).
# Without them `make test` skips those tests and its last lines say so.
set -euo pipefail
cd "$(dirname "$0")"
bash install-test-postgres.sh
bash install-test-squid.sh
bash install-graphviz.sh
bash install-test-redis.sh
