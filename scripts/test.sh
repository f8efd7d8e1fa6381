#!/usr/bin/env bash
# Runs the whole suite: on PostgreSQL and Redis when they answer, else on SQLite with
# the tests that need a server skipped (and under CI=true, any skip fails the run).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

reachable() {  # host port
  $BIN/python - "$1" "$2" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

if [ -z "${DATABASE_URL:-}" ]; then
  if reachable 127.0.0.1 5432; then
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry
  else
    echo "make test: no PostgreSQL on 127.0.0.1:5432; using SQLite (tests that need PostgreSQL are skipped)."
  fi
fi
if [ -z "${REDIS_URL:-}" ]; then
  if reachable 127.0.0.1 6379; then
    export REDIS_URL=redis://127.0.0.1:6379/15
  else
    echo "make test: no Redis on 127.0.0.1:6379; tests that need it are skipped."
  fi
fi
# Tasks queued by the tests go to the same Redis that the worker tests consume from.
if [ -n "${REDIS_URL:-}" ]; then export CELERY_BROKER_URL=${CELERY_BROKER_URL:-$REDIS_URL}; fi
echo "make test: DATABASE_URL=${DATABASE_URL:-sqlite} REDIS_URL=${REDIS_URL:-none} CI=${CI:-}"
exec $BIN/python -m pytest "$@"
