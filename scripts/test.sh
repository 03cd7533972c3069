#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine. It installs what the
# tests need (the wasm32-wasip2 target; the Python oracles some differential
# tests compare against, OpenEnv's client, Gymnasium and maturin, in a private
# venv), runs the Rust suite in release mode, then builds the lamer-envs wheel
# and runs the Python tests (python/tests) with pytest. The Rust suite runs
# in release mode (wasmtime and candle are ~20x slower in debug). The tests
# crate's build script compiles the wasm plugins itself. Snapshots are never
# written here: a mismatch fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

# Python oracles for differential tests (pinned), in a venv outside the tree.
venv="${LAMER_TEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/lamer/test-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/test-requirements.txt
# OpenEnv's client and validator, Gymnasium, maturin (pinned), for python/tests.
"$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/python-test-requirements.txt
export LAMER_PYTHON="$venv/bin/python"

export INSTA_UPDATE=no
cargo test --release --workspace "$@"

# The Python side: the lamer-envs wheel (with the plugins the test build just
# compiled), then pytest against it and against `lamer-host serve` driven by
# OpenEnv's own client. pytest's summary is the last line.
export LAMER_PLUGIN_DIR="$PWD/target/plugins/wasm32-wasip2/plugin"
export LAMER_HOST="$PWD/target/release/lamer-host"
MATURIN="$venv/bin/maturin" ./scripts/build-wheel.sh
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps target/wheels/lamer_envs-*.whl
"$venv/bin/python" -m pytest python/tests -q
