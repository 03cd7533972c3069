#!/usr/bin/env bash
# Python reference benchmarks for Sokoban and MineSweeper (outside the product).
# Creates bench/python/.venv with pinned packages, runs each benchmark in 5
# separate processes and prints the median ops/s. Usage: bench/python/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "gym==0.26.2" "gym-sokoban==0.0.6" "numpy==2.4.6" 2>/dev/null \
    || "$venv/bin/pip" install --quiet "gym==0.26.2" "gym-sokoban==0.0.6" numpy
fi
mkdir -p "$here/results"
out="$here/results/python-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
run() {
  local what=$1 count=$2
  for _ in 1 2 3 4 5; do
    (cd "$here" && "$venv/bin/python" -W ignore bench.py "$what" "$count") | tee -a "$out"
  done | "$venv/bin/python" "$here/summarize.py"
}
"$venv/bin/python" -c 'import numpy, gym_sokoban, sys; print("python", sys.version.split()[0], "numpy", numpy.__version__)'
run sokoban_reset 100
run sokoban_step 1000
run mines_reset 5000
run mines_step 20000
echo "raw results: $out"
