#!/usr/bin/env bash
# Serves the registry on $HOST:$PORT with a Celery worker beside it; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}

$BIN/celery -A config worker --loglevel=INFO --concurrency=2 --beat --schedule=var/celerybeat-schedule --hostname="registry@%h" &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM

echo "Registry on http://$HOST:$PORT/  (worker pid $worker; Ctrl-C stops both)"
$BIN/gunicorn config.wsgi:application --bind "$HOST:$PORT" --workers 2 --threads 4 --access-logfile - &
web=$!
trap 'kill $web $worker 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
wait -n $web $worker
