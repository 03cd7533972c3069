#!/usr/bin/env bash
# Records (or checks live) lamer's parity with Hugging Face transformers and
# PEFT. Installs the reference libraries into a private venv, writes random
# reference models with transformers, the PEFT-made adapter and lamer's
# exports, records what transformers computes for them into
# host/policy/tests/fixtures/hf (the committed fixtures the Rust tests in
# host/policy/tests/hf_parity.rs compare against), then runs the Rust checker
# live on every case, in f32 and bf16.
#
#   scripts/hf-parity/run.sh            # small models: rewrite the fixtures
#   scripts/hf-parity/run.sh --big      # also the Qwen3-0.6B shape (2.4 GB, not committed)
#
# LAMER_HF_PYTHON=/path/to/python skips the venv (use an interpreter that has
# the pinned libraries). Every draw is seeded: a rerun rewrites identical files.
set -euo pipefail
cd "$(dirname "$0")/../.."
big=0
[ "${1:-}" = "--big" ] && big=1

if [ -n "${LAMER_HF_PYTHON:-}" ]; then
    py="$LAMER_HF_PYTHON"
else
    venv="${LAMER_HF_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/lamer/hf-parity-venv}"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        --extra-index-url https://download.pytorch.org/whl/cpu -r scripts/hf-parity/requirements.txt
    py="$venv/bin/python"
fi
start=$(date +%s)
cargo build --release --quiet -p lamer-policy --example hf_parity
cargo build --release --quiet -p lamer-host
tool=target/release/examples/hf_parity
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fixtures=host/policy/tests/fixtures/hf
quiet() { grep -v -e 'Loading weights' -e 'Writing model shards' -e 'is_gradient_checkpointing' -e 'warnings.warn' || true; }

record() { # DIR [--big]
    local dir="$1"; shift
    "$py" scripts/hf-parity/make_fixtures.py models "$dir" "$work/exports" "$@" 2>&1 | quiet
    for case in "$dir"/*/; do
        [ -f "$case/reference.json" ] && "$tool" sample "$case" --exports "$work/exports"
    done
    "$py" scripts/hf-parity/make_fixtures.py record "$dir" "$work/exports" --bf16-spread 2>&1 | quiet
}
check() { # DIR
    local cases=()
    for case in "$1"/*/; do [ -f "$case/reference.json" ] && cases+=("$case"); done
    "$tool" check "${cases[@]}" --exports "$work/exports" --strict
    "$tool" check "${cases[@]}" --exports "$work/exports" --dtype bf16
}

"$tool" export "$work/exports"
rm -rf "$fixtures"
record "$fixtures"
plugins="${LAMER_PLUGIN_DIR:-target/wasm32-wasip2/plugin}"
[ -f "$plugins/sokoban.wasm" ] || plugins=target/plugins/wasm32-wasip2/plugin
"$py" scripts/hf-parity/make_fixtures.py chat "$fixtures" target/release/lamer-host \
    "$plugins" "$work/exports/tiny" 2>&1 | quiet
check "$fixtures"
if [ "$big" = 1 ]; then
    record "$work/big" --big
    check "$work/big"
fi
echo "hf-parity: done in $(( $(date +%s) - start )) s"
