#!/usr/bin/env bash
# Prefill tokens a prefix tree would save over the exact-duplicate dedupe, on
# real rollouts (issue #12, item 5). For each environment it runs one LaMer
# training step of the built-in tiny model (warm-started on the plugin's
# expert, as `train` does by default, so the agent plays valid moves and its
# trials diverge), B tasks × G trials × 3 attempts with reflection, and reads
# the step's `prefill/*` counters from metrics.jsonl: the prompt tokens of
# every generation batch of the rollout
#   (a) with no sharing, (b) with identical prompts prefilled once (what
#   `generate` does; "padded": as it computes them, left-padded to the
#   longest), (b2) the batch's common prefix once plus each distinct prompt's
#   rest (the simplest sharing), (c) with every distinct token prefix once (a
#   prefix tree).
# It prints one table row per environment; a prefix tree pays if (c) is
# materially below (b).
#
#   bench/prefix-sharing.sh [ENV...]     (default: sokoban webshop)
#   env: TASKS (default 4), GROUP (default 8, the paper's G), LAMER_HOST
#        (default target/release/lamer-host), PLUGINS (default
#        target/plugins/wasm32-wasip2/plugin), OUT (default runs/prefix-sharing),
#        MAX_TURNS (default: the recipe's; WebShop's 12 turns of history outgrow
#        the tiny model's 4,096-token context in a reflection prompt: use 6),
#        MODEL (default: the warm-started built-in model; a model directory,
#        e.g. a cached ~/.cache/lamer/models/warm-<env>-*, played at the tiny
#        scale — a changed recipe changes the warm start's cache key)
# The first run of an environment pays for its warm start (minutes; cached).
set -euo pipefail
cd "$(dirname "$0")/.."
HOST="${LAMER_HOST:-target/release/lamer-host}"
PLUGINS="${PLUGINS:-target/plugins/wasm32-wasip2/plugin}"
OUT="${OUT:-runs/prefix-sharing}"
TASKS="${TASKS:-4}"
GROUP="${GROUP:-8}"
[ $# -gt 0 ] || set -- sokoban webshop
mkdir -p "$OUT"
# One rollout and its update; no validation (it would not count).
printf '[schedule]\nval_before_train = false\n' >"$OUT/no-validation.toml"
if [ -n "${MAX_TURNS:-}" ]; then
  printf '[trial]\nmax_turns = %s\n' "$MAX_TURNS" >>"$OUT/no-validation.toml"
fi
MODEL_ARGS=()
[ -z "${MODEL:-}" ] || MODEL_ARGS=(--model "$MODEL" --scale tiny)
for env in "$@"; do
  echo "$env: 1 step, $TASKS tasks × group $GROUP" >&2
  "$HOST" train --plugin "$PLUGINS/$env.wasm" --recipe "$OUT/no-validation.toml" "${MODEL_ARGS[@]}" \
    --steps 1 --tasks-per-step "$TASKS" --group-size "$GROUP" --val-every 0 \
    --out "$OUT/$env" --overwrite --no-progress >"$OUT/$env.log" 2>&1 ||
    { cat "$OUT/$env.log" >&2; exit 1; }
done
python3 - "$OUT" "$@" <<'PY'
import json, sys

out, envs = sys.argv[1], sys.argv[2:]
print("| env | batches | rows | (a) no sharing | (b) dedupe | (b) padded | (b2) batch prefix "
      "| (c) prefix tree | (b2)/(b) | (c)/(b) | (c)/(a) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for env in envs:
    with open(f"{out}/{env}/metrics.jsonl") as f:
        m = json.loads(f.readline())
    a = m["prefill/prompt_tokens"]
    b = m["prefill/dedup_tokens"]
    bp = m["prefill/dedup_padded_tokens"]
    b2 = m["prefill/batch_prefix_tokens"]
    c = m["prefill/prefix_tree_tokens"]
    rows = m["prefill/rows"]
    print(f"| {env} | {m['prefill/batches']:.0f} | {rows:.0f} | {a:,.0f} | {b:,.0f} | {bp:,.0f} | "
          f"{b2:,.0f} | {c:,.0f} | {b2 / b:.2f} | {c / b:.2f} | {c / a:.2f} |")
PY
