#!/usr/bin/env bash
# Serves the registry on $HOST:$PORT with a Celery worker beside it, and keeps the worker running:
# a worker that dies is restarted after a short back-off while the web keeps serving.
# Ctrl-C (SIGINT) or SIGTERM stops both; the web dying stops everything.
set -euo pipefail
# Job control puts each child in its own process group, so a dead worker's pool processes can be
# cleaned up with it and Ctrl-C reaches only this script, which stops the children in order.
set -m
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
VAR_DIR=${REGISTRY_VAR_DIR:-var}
STOP_TIMEOUT=${STOP_TIMEOUT:-20}   # seconds a worker may take to finish its task on Ctrl-C
mkdir -p "$VAR_DIR"

web=""
worker=""
pause=""

log() { echo "run.sh: $*" >&2; }

start_worker() {
  $BIN/celery -A config worker --loglevel=INFO --concurrency=2 \
    --beat --schedule="$VAR_DIR/celerybeat-schedule" --hostname="registry@%h" &
  worker=$!
  worker_started=$SECONDS
}

stop_all() {
  trap '' INT TERM
  log "stopping"
  if [ -n "$pause" ]; then kill -- -"$pause" 2>/dev/null || true; fi
  kill -TERM $web $worker 2>/dev/null || true
  # A worker still busy after STOP_TIMEOUT is killed; its task is redelivered (acks late).
  (sleep "$STOP_TIMEOUT"; kill -KILL -- -"$web" -"$worker") 2>/dev/null &
  local killer=$!
  wait $web $worker 2>/dev/null || true
  kill -- -"$killer" 2>/dev/null || true
  # Anything the masters left behind (pool processes, gunicorn workers) goes with them.
  kill -KILL -- -"$web" -"$worker" 2>/dev/null || true
  exit "${1:-0}"
}
trap 'stop_all 0' INT TERM

# config/gunicorn.py: workers, threads, access log, and the control socket in var/ (two registries on
# one machine do not share one).
HOST=$HOST PORT=$PORT REGISTRY_VAR_DIR=$VAR_DIR $BIN/gunicorn -c config/gunicorn.py config.wsgi:application &
web=$!
start_worker
echo "Registry on http://$HOST:$PORT/  (web pid $web, worker pid $worker; Ctrl-C stops both)"

backoff=1
while true; do
  status=0
  wait -n || status=$?
  if ! kill -0 "$web" 2>/dev/null; then
    log "the web server exited (status $status)"
    stop_all 1
  fi
  if kill -0 "$worker" 2>/dev/null; then
    continue
  fi
  kill -KILL -- -"$worker" 2>/dev/null || true   # its pool processes, now orphans
  # A worker that ran a while restarts at once; one that keeps dying waits longer, up to 30 s.
  if [ $((SECONDS - worker_started)) -ge 60 ]; then backoff=1; fi
  log "the worker exited (status $status); restarting in ${backoff}s"
  sleep "$backoff" &
  pause=$!
  wait "$pause" || true
  pause=""
  backoff=$((backoff * 2 > 30 ? 30 : backoff * 2))
  start_worker
  log "worker restarted (pid $worker)"
done
