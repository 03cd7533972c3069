#!/usr/bin/env bash
# The policy on the CPU, side by side with PyTorch + transformers on the same
# weights (the built-in tiny model): lamer-policy's bench example, then
# torch_bench.py, one after the other on this machine, both with 2 threads;
# prints each figure and the ratio ours / torch (for ms rows, torch / ours),
# so > 1 means we are faster.
#
#   bench/policy/side-by-side.sh [--batch 1,32,128] [--repeats 3]
#   env: TORCH_VENV (default ~/.cache/lamer/torch-venv; created with torch and
#        transformers from PyPI if missing — several GB), THREADS (default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${TORCH_VENV:-$HOME/.cache/lamer/torch-venv}"
THREADS="${THREADS:-2}"
BATCH=1,32,128
REPEATS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) BATCH="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet torch transformers safetensors
fi
cargo build --release -p lamer-policy --example bench >&2
ours=$(RAYON_NUM_THREADS="$THREADS" target/release/examples/bench --model tiny \
  --batch "$BATCH" --train full --repeats "$REPEATS")
dir=$(echo "$ours" | sed -n 's/^model dir: //p')
theirs=$("$VENV/bin/python" bench/policy/torch_bench.py --model "$dir" \
  --batch "$BATCH" --repeats "$REPEATS" --threads "$THREADS")
echo "$theirs" | head -n1 >&2
python3 - "$ours" "$theirs" <<'PY'
import re, sys
ours, theirs = sys.argv[1], sys.argv[2]
def key(name):
    # "decode, batch 32 (after a 256-token prompt)" and
    # "train micro-step (full, 172.4 k trainable), 4 rows × ..." -> short keys
    name = re.sub(r" \(after a \d+-token prompt\)", "", name)
    name = re.sub(r"\(full, [^)]*\)", "(full)", name)
    return name.strip()
mine = {}
for line in ours.splitlines():
    m = re.match(r"\| (.+?) \| ([0-9.]+) (tok/s|ms) \|", line)
    if m:
        mine[key(m[1])] = (float(m[2]), m[3])
print("| measure | ours | torch | ratio (>1: ours faster) |")
print("|---|---|---|---|")
for line in theirs.splitlines():
    m = re.match(r"(.+?): ([0-9.]+) (tok/s|ms)$", line)
    if not m or key(m[1]) not in mine:
        continue
    o, unit = mine[key(m[1])]
    t = float(m[2])
    ratio = o / t if unit == "tok/s" else t / o
    print(f"| {key(m[1])} | {o:,.0f} {unit} | {t:,.0f} {unit} | {ratio:.2f}× |")
PY
