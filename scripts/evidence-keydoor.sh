#!/usr/bin/env bash
# The evidence run of RESULTS.md: SFT the built-in tiny model on keydoor, then
# train LaMer and GiGPO from it with equal trajectory budgets (8 tasks × 8
# trials × 3 attempts = 8 tasks × 24 single attempts = 192 episodes per step),
# over several seeds, and evaluate every model on 128 held-out tasks.
#
#   ./scripts/build.sh && ./scripts/evidence-keydoor.sh [OUT_DIR] [STEPS] [SEEDS...]
#
# Defaults: runs/evidence, 10 steps, seeds 0 1 2. Takes ~1 hour on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-runs/evidence}
steps=${2:-10}
shift $(( $# > 2 ? 2 : $# )) || true
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(0 1 2)

host=${LAMER_HOST:-target/release/lamer-host}
plugin=target/wasm32-wasip2/plugin/keydoor.wasm
mkdir -p "$out"

# 1. Warm start: expert and reflection demonstrations (lamer-host sft).
if [ ! -f "$out/sft/model/config.json" ]; then
    "$host" sft --plugin "$plugin" --out "$out/sft/model" --epochs 20 --lr 3e-3 \
        | tee "$out/sft.log"
fi

evaluate() { # model dir, mode, out dir
    "$host" eval --plugin "$plugin" --model "$1" --mode "$2" --tasks 128 --attempts 3 \
        --max-new-tokens 48 --diversity-samples 4 --seed 20 --no-progress --out "$3" \
        > "$3.log"
}

# 2. The starting point, evaluated both ways.
for mode in reflexion zero-shot; do
    [ -f "$out/eval-sft-$mode/report.json" ] || evaluate "$out/sft/model" "$mode" "$out/eval-sft-$mode"
done

# 3. RL from the SFT model: LaMer (3 attempts × group 8, reflection, cross-episode
#    returns) and GiGPO (1 attempt × group 24); LaMer is evaluated with its
#    reflection loop, GiGPO with 3 independent attempts, as in the paper.
for seed in "${seeds[@]}"; do
    for algo in lamer gigpo; do
        run="$out/$algo-s$seed"
        if [ ! -f "$run/model/config.json" ]; then
            "$host" train --plugin "$plugin" --model "$out/sft/model" --algo "$algo" \
                --scale paper --steps "$steps" --tasks-per-step 8 --max-new-tokens 48 \
                --val-every 5 --val-tasks 32 --save-every "$steps" --lr 3e-4 \
                --mini-batch 64 --micro-batch 16 --seed "$seed" --out "$run" --overwrite --quiet \
                > "$run.log" 2>&1
        fi
        mode=reflexion
        [ "$algo" = lamer ] || mode=zero-shot
        [ -f "$run-eval/report.json" ] || evaluate "$run/model" "$mode" "$run-eval"
    done
done
echo "done: $out"
