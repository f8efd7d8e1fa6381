#!/usr/bin/env bash
# Benchmarks (not tests): each tests/bench/bench_*.py prints its figures. A benchmark that misses
# its targets (or fails) does not stop the others; the run then exits non-zero.
#   bench_dti.py     the diffusion pipeline against textbook dipy
#   bench_export.py  the cohort export: rows/s and memory at 1,000 and 10,000 patients
#   bench_web.py     the web under wrk: gunicorn on a registry seeded with 1,000 patients
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for bench in tests/bench/bench_*.py; do
  echo "== $bench"
  args=()
  case "$bench" in
    */bench_export.py) args=(--sizes 12000,120000) ;;  # 12 rows a patient: 1,000 and 10,000 patients
  esac
  .venv/bin/python "$bench" "${args[@]}" || status=1
done
exit $status
