#!/usr/bin/env bash
# Benchmarks (not tests): each tests/bench/bench_*.py prints its figures.
set -euo pipefail
cd "$(dirname "$0")/.."
for bench in tests/bench/bench_*.py; do
  echo "== $bench"
  .venv/bin/python "$bench"
done
