#!/usr/bin/env bash
# One prepared GPU check of lamer (issue #12, item 8), sized to finish in at
# most 8 minutes on one H200. It writes OUT_DIR/gpu-check.json (every part
# with its status, seconds, figures and, when it failed, the tail of its
# error) and OUT_DIR/gpu-check.log (progress and each part's full output).
#
# Usage: scripts/gpu-check.sh [--cpu-smoke] OUT_DIR
#
# Parts, in order; each runs under its own `timeout` and a failing part never
# stops the next (a part that needs an earlier one's output says `skipped`):
#   launch       nvidia-smi, and both CUDA binaries start (gpu-launch.sh
#                unpacks the .xz and finds the CUDA libraries)
#   save_4b      a random Qwen3-4B-shaped model, bf16, written once as a
#                Hugging Face directory (bench --save-model) with the tiny
#                model's tokenizer: the same weights for ours and transformers
#   decode       ours: prefill and decode tok/s at batch 1, 32, 128 after
#                1,024-token prompts, on those weights
#   torch_decode transformers on the same weights, same measurements
#                (bench/policy/torch_bench.py --device cuda --dtype bf16);
#                the JSON's `ratios` gives ours / transformers per figure
#   train_micro  ours: one training micro-step (4 rows × (1024+256) tokens),
#                LoRA r16 and full, with the GPU peak memory of each
#   save_06b     a random Qwen3-0.6B-shaped model directory (as save_4b)
#   host_train   `lamer-host train --device cuda --dtype bf16`, two steps on
#                Sokoban with that model (small rollouts: 4 tasks × group 2,
#                3 turns, 64-token responses); per-step timings from its
#                metrics.jsonl
# On a GPU every part also records the device's peak memory.used (nvidia-smi,
# polled every 0.2 s; the whole device, allocator caches included).
#
# Caps (seconds; env CAP_<PART> overrides): launch 30, save_4b 60, decode 100,
# torch_decode 80, train_micro 60, save_06b 20, host_train 100: 450 s in all.
# BUDGET_S (default 470) is the whole check's deadline: a part gets at most
# what is left of it, and none starts with under 10 s left.
#
# On the GPU machine (no Rust, no network; python3 there holds PyTorch and
# transformers) it runs the CUDA builds of `scripts/cuda-build.sh`. Carry its
# output folder, $CARGO_TARGET_DIR/dist (default target/cuda/dist), which
# holds lamer-host.xz and bench.xz (stripped, `xz -9`), plugins/*.wasm and
# gpu-launch.sh; cuda-build.sh prints its size. Expect ≈ 11 MB for
# lamer-host.xz (measured 2026-12-01), about as much for bench.xz, 3 MB of
# plugins and 5.6 MB of tracked tree: ≈ 30 MB of the 64 MiB a call carries.
# The device run sends the session's own checkout, so this branch must be in
# it. Then one call:
#   run(command="scripts/gpu-check.sh $OUT", carry=["target/cuda/dist"],
#       timeout_s=540)
# and the JSON and log come back under the run's files.
#
# --cpu-smoke: the same parts on this machine's CPU in a minute or two, with
# the tiny model's shape, --device cpu --dtype f32, tiny batches and one step
# lengths; it runs the CPU builds (env BENCH, default
# target/release/examples/bench; LAMER_HOST, default
# target/release/lamer-host; SOKOBAN, default
# target/plugins/wasm32-wasip2/plugin/sokoban.wasm). The numbers only show
# that every part works.
#   env: PYTHON (default python3) — the interpreter with torch and
#        transformers; torch_decode is `skipped` when it lacks them.
#        DIST (default target/cuda/dist) — the carried CUDA build.
set -uo pipefail

SMOKE=0
if [ "${1:-}" = "--cpu-smoke" ]; then
  SMOKE=1
  shift
fi
OUT_DIR="${1:?usage: scripts/gpu-check.sh [--cpu-smoke] OUT_DIR}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO" || exit 1
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
LOG="$OUT_DIR/gpu-check.log"
JSON="$OUT_DIR/gpu-check.json"
: >"$LOG"
export PYTHON="${PYTHON:-python3}"
BUDGET_S="${BUDGET_S:-470}"
START=$(date +%s)
# Scratch space for the model directories (8 GB for the 4B) and part outputs.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
PARTS="$WORK/parts"
mkdir -p "$PARTS"

log() {
  local line
  line="[$(date -u +%H:%M:%S) +$(($(date +%s) - START))s] $*"
  echo "$line"
  echo "$line" >>"$LOG"
}

if [ "$SMOKE" = 1 ]; then
  BENCH=("${BENCH:-$REPO/target/release/examples/bench}")
  HOST=("${LAMER_HOST:-$REPO/target/release/lamer-host}")
  SOKOBAN="${SOKOBAN:-$REPO/target/plugins/wasm32-wasip2/plugin/sokoban.wasm}"
  BENCH_DEVICE=cpu HOST_DEVICE=cpu DTYPE=f32 TORCH_DEVICE=cpu
  BIG=tiny SMALL=tiny
  BATCH=1,4 PROMPT=64 DECODE=32 REPEATS=2
  TRAIN_ROWS=2 TRAIN_PROMPT=32 TRAIN_RESPONSE=8
  HOST_TRAIN=(--tasks-per-step 1 --group-size 2 --attempts 2 --mini-batch 8 --micro-batch 4)
  HOST_TURNS=2 HOST_TOKENS=16
else
  DIST="${DIST:-$REPO/target/cuda/dist}"
  BENCH=("$DIST/gpu-launch.sh" bench)
  HOST=("$DIST/gpu-launch.sh" lamer-host)
  SOKOBAN="${SOKOBAN:-$DIST/plugins/sokoban.wasm}"
  BENCH_DEVICE=cuda:0 HOST_DEVICE=cuda DTYPE=bf16 TORCH_DEVICE=cuda
  BIG=qwen3-4b SMALL=qwen3-0.6b
  BATCH=1,32,128 PROMPT=1024 DECODE=32 REPEATS=2
  TRAIN_ROWS=4 TRAIN_PROMPT=1024 TRAIN_RESPONSE=256
  HOST_TRAIN=(--tasks-per-step 4 --group-size 2 --mini-batch 32 --micro-batch 8)
  HOST_TURNS=3 HOST_TOKENS=64
fi
HAVE_SMI=0
command -v nvidia-smi >/dev/null 2>&1 && [ "$SMOKE" = 0 ] && HAVE_SMI=1

# part NAME CAP_S COMMAND...: runs COMMAND under `timeout` with stdout and
# stderr in $PARTS/NAME.{out,err}, then records NAME.status (rc, seconds).
part() {
  local name="$1" cap="$2"
  shift 2
  local var="CAP_${name^^}"
  cap="${!var:-$cap}"
  local left=$((BUDGET_S - ($(date +%s) - START)))
  if [ "$left" -lt 10 ]; then
    log "skip $name: ${left}s of the ${BUDGET_S}s budget left"
    echo "skipped no time left in the ${BUDGET_S}s budget" >"$PARTS/$name.skip"
    return
  fi
  [ "$cap" -gt "$left" ] && cap="$left"
  log "start $name (cap ${cap}s): $*"
  local poller=""
  if [ "$HAVE_SMI" = 1 ]; then
    (while :; do
      nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -n1
      sleep 0.2
    done) >"$PARTS/$name.gpumem" &
    poller=$!
  fi
  local t0 rc
  t0=$(date +%s%N)
  timeout --kill-after=10 "$cap" "$@" >"$PARTS/$name.out" 2>"$PARTS/$name.err"
  rc=$?
  local secs
  secs=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
  [ -n "$poller" ] && kill "$poller" 2>/dev/null && wait "$poller" 2>/dev/null
  echo "$rc $secs $cap" >"$PARTS/$name.status"
  {
    echo "----- $name: stdout -----"
    cat "$PARTS/$name.out"
    echo "----- $name: stderr -----"
    cat "$PARTS/$name.err"
  } >>"$LOG"
  log "end $name: rc $rc after ${secs}s"
}

# ok NAME: the part ran and exited 0.
ok() {
  [ "$(cut -d' ' -f1 "$PARTS/$1.status" 2>/dev/null)" = 0 ]
}

# skip NAME REASON: a part that cannot run.
skip() {
  log "skip $1: $2"
  echo "skipped $2" >"$PARTS/$1.skip"
}

log "gpu-check: $([ "$SMOKE" = 1 ] && echo "CPU smoke" || echo GPU) mode, repo $REPO, budget ${BUDGET_S}s"

# launch: the device, and that each binary starts (a script, as `timeout`
# runs programs, not shell functions).
{
  echo 'set -e'
  echo 'if command -v nvidia-smi >/dev/null; then'
  echo '  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader'
  echo 'fi'
  printf '%q ' "${BENCH[@]}"
  echo '--help >/dev/null'
  printf '%q ' "${HOST[@]}"
  echo '--version'
} >"$WORK/launch.sh"
part launch 30 bash "$WORK/launch.sh"

BIG_DIR="$WORK/model-$BIG"
SMALL_DIR="$WORK/model-$SMALL-small"
part save_4b 60 "${BENCH[@]}" --config "$BIG" --device "$BENCH_DEVICE" --dtype "$DTYPE" \
  --save-model "$BIG_DIR" --format jsonl
du -sb "$BIG_DIR" 2>/dev/null | cut -f1 >"$PARTS/save_4b.bytes"

BENCH_ARGS=(--device "$BENCH_DEVICE" --dtype "$DTYPE" --batch "$BATCH" --prompt-len "$PROMPT"
  --decode-tokens "$DECODE" --repeats "$REPEATS" --format jsonl)
if ok save_4b; then
  part decode 100 "${BENCH[@]}" --model "$BIG_DIR" "${BENCH_ARGS[@]}" --train ""
else
  # Same shape, weights drawn in memory: the speed does not depend on them,
  # but transformers has no directory to load, so no ratio.
  log "decode: no saved model, random $BIG weights instead"
  part decode 100 "${BENCH[@]}" --config "$BIG" "${BENCH_ARGS[@]}" --train ""
fi

if ! ok save_4b; then
  skip torch_decode "no model directory (save_4b failed)"
elif ! "$PYTHON" -c "import torch, transformers" 2>/dev/null; then
  skip torch_decode "$PYTHON has no torch and transformers"
else
  part torch_decode 80 "$PYTHON" bench/policy/torch_bench.py --model "$BIG_DIR" \
    --device "$TORCH_DEVICE" --dtype "$DTYPE" --batch "$BATCH" --prompt-len "$PROMPT" \
    --decode-tokens "$DECODE" --repeats "$REPEATS" --threads "$(nproc)" --train none \
    --json "$PARTS/torch_decode.json"
fi
rm -rf "$BIG_DIR"

part train_micro 60 "${BENCH[@]}" --config "$BIG" --device "$BENCH_DEVICE" --dtype "$DTYPE" \
  --batch "" --train lora,full --train-rows "$TRAIN_ROWS" --train-prompt-len "$TRAIN_PROMPT" \
  --train-response-len "$TRAIN_RESPONSE" --repeats "$REPEATS" --format jsonl

part save_06b 20 "${BENCH[@]}" --config "$SMALL" --device "$BENCH_DEVICE" --dtype "$DTYPE" \
  --save-model "$SMALL_DIR" --format jsonl
du -sb "$SMALL_DIR" 2>/dev/null | cut -f1 >"$PARTS/save_06b.bytes"

# Short episodes, no validation: the two steps time a rollout and an update.
cat >"$WORK/recipe.toml" <<EOF
[trial]
max_turns = $HOST_TURNS
[lengths]
max_new_tokens = $HOST_TOKENS
[schedule]
val_before_train = false
EOF
if ! ok save_06b; then
  skip host_train "no model directory (save_06b failed)"
elif [ ! -f "$SOKOBAN" ]; then
  skip host_train "no Sokoban plugin at $SOKOBAN"
else
  part host_train 100 "${HOST[@]}" train --plugin "$SOKOBAN" --model "$SMALL_DIR" \
    --recipe "$WORK/recipe.toml" --steps 2 "${HOST_TRAIN[@]}" --val-every 0 --save-every 0 \
    --device "$HOST_DEVICE" --dtype "$DTYPE" --warm-start off --no-progress \
    --out "$WORK/run" --overwrite
  cp "$WORK/run/metrics.jsonl" "$PARTS/host_train.metrics" 2>/dev/null
fi

# The JSON: every part, its status and figures; ours / transformers ratios.
python3 - "$PARTS" "$JSON" "$SMOKE" "$BUDGET_S" "$(($(date +%s) - START))" <<'PY'
import json, os, re, sys

parts_dir, out, smoke, budget, elapsed = sys.argv[1:6]
ORDER = ["launch", "save_4b", "decode", "torch_decode", "train_micro", "save_06b", "host_train"]


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return None


def jsonl(text):
    rows = []
    for line in (text or "").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    return rows


def tail(text, n=20):
    return "\n".join((text or "").rstrip().splitlines()[-n:])


report = {
    "mode": "cpu-smoke" if smoke == "1" else "gpu",
    "budget_s": int(budget),
    "elapsed_s": int(elapsed),
    "parts": {},
}
for name in ORDER:
    p = os.path.join(parts_dir, name)
    entry = {}
    skip = read(p + ".skip")
    status = read(p + ".status")
    if skip is not None:
        entry["status"] = "skipped"
        entry["reason"] = skip.split(" ", 1)[1].strip()
    elif status is None:
        entry["status"] = "missing"
    else:
        rc, secs, cap = status.split()
        rc = int(rc)
        entry["status"] = "ok" if rc == 0 else ("timeout" if rc in (124, 137) else "failed")
        entry["rc"] = rc
        entry["seconds"] = round(float(secs), 2)
        entry["cap_s"] = int(cap)
        if rc != 0:
            err = read(p + ".err") or ""
            entry["error_tail"] = tail(err) or tail(read(p + ".out"))
    mem = [int(x) for x in re.findall(r"^\d+$", read(p + ".gpumem") or "", re.M)]
    if mem:
        entry["gpu_peak_mib"] = max(mem)
    stdout = read(p + ".out")
    rows = jsonl(stdout)
    if name == "launch" and stdout:
        entry["output"] = stdout.strip()
    elif name in ("save_4b", "save_06b"):
        saved = [r for r in rows if "saved" in r]
        if saved:
            entry["figures"] = {"write_s": saved[0]["seconds"], "parameters": saved[0]["parameters"]}
            size = (read(p + ".bytes") or "").strip()
            if size.isdigit():
                entry["figures"]["bytes"] = int(size)
    elif name in ("decode", "train_micro"):
        entry["measurements"] = [r for r in rows if "name" in r]
        summary = [r["summary"] for r in rows if "summary" in r]
        if summary:
            entry["summary"] = summary[0]
    elif name == "torch_decode":
        t = read(p + ".json")
        if t:
            try:
                data = json.loads(t)
                entry["measurements"] = data.pop("measurements", [])
                entry["versions"] = data
            except ValueError:
                pass
    elif name == "host_train":
        keep = ["step", "timing_s/step", "timing_s/rollout", "timing_s/update",
                "train/rows", "train/tokens", "prompt_length/mean", "response_length/mean"]
        steps = jsonl(read(p + ".metrics"))
        entry["steps"] = [{k: s[k] for k in keep if k in s} for s in steps]
    report["parts"][name] = entry


def key(name):
    # "decode, batch 32 (after a 1024-token prompt)" (ours) = "decode, batch 32"
    return re.sub(r" \(after a \d+-token prompt\)", "", name)


ours = {key(m["name"]): m["value"] for m in report["parts"]["decode"].get("measurements", [])}
theirs = {key(m["name"]): m["value"] for m in report["parts"]["torch_decode"].get("measurements", [])}
report["ratios"] = {
    k: round(ours[k] / theirs[k], 3)
    for k in ours
    if k in theirs and theirs[k] > 0
}
report["ratios_note"] = "ours / transformers tok/s on the same weights; > 1: ours faster"
with open(out, "w") as f:
    json.dump(report, f, indent=1, ensure_ascii=False)
for name in ORDER:
    e = report["parts"][name]
    print(f"{name}: {e['status']}" + (f" ({e['seconds']} s)" if "seconds" in e else ""))
PY
log "wrote $JSON"
