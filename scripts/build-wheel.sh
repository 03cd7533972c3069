#!/usr/bin/env bash
# Builds the lamer-envs Python wheel (abi3, CPython >= 3.9) with the project's
# five plugins bundled, into target/wheels/. Needs maturin (`pip install
# maturin`). With LAMER_PLUGIN_DIR set, the .wasm files are taken from there
# (scripts/test.sh passes the ones the test build already compiled); otherwise
# they are built here.
#
#   ./scripts/build-wheel.sh && pip install target/wheels/lamer_envs-*.whl
set -euo pipefail
cd "$(dirname "$0")/.."

maturin="${MATURIN:-maturin}"
bundled=(keydoor sokoban minesweeper webshop alfworld)

plugin_dir="${LAMER_PLUGIN_DIR:-}"
if [ -z "$plugin_dir" ]; then
    if ! rustup target list --installed | grep -qx wasm32-wasip2; then
        rustup target add wasm32-wasip2
    fi
    cargo build --profile plugin --target wasm32-wasip2 \
        -p lamer-example-keydoor -p lamer-plugin-sokoban -p lamer-plugin-minesweeper -p lamer-plugin-webshop -p lamer-plugin-alfworld
    plugin_dir=target/wasm32-wasip2/plugin
fi

mkdir -p python/lamer_envs/plugins
for name in "${bundled[@]}"; do
    cp "$plugin_dir/$name.wasm" python/lamer_envs/plugins/
done

rm -f target/wheels/lamer_envs-*.whl
"$maturin" build --release --manifest-path python/Cargo.toml --out target/wheels
ls target/wheels/lamer_envs-*.whl
