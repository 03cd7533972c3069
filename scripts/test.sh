#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine. It installs what the
# tests need (the wasm32-wasip2 target; the Python oracles some differential
# tests compare against, in a private venv) and runs the suite in release mode
# (wasmtime and candle are ~20x slower in debug). The tests crate's build script
# compiles the wasm plugins itself. Snapshots are never written here: a
# mismatch fails.
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
export LAMER_PYTHON="$venv/bin/python"

export INSTA_UPDATE=no
cargo test --release --workspace "$@"
