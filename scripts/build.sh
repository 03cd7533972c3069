#!/usr/bin/env bash
# Builds lamer on a fresh machine: the wasm32-wasip2 target, the lamer-host
# binary (release, CPU) and every environment plugin (examples/* and plugins/*)
# as WebAssembly components in target/wasm32-wasip2/plugin/*.wasm.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

# Every crate under examples/ and plugins/ is an environment plugin.
packages=()
for manifest in examples/*/Cargo.toml plugins/*/Cargo.toml; do
    [ -f "$manifest" ] || continue
    name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$manifest" | head -n 1)
    packages+=(-p "$name")
done

cargo build --profile plugin --target wasm32-wasip2 "${packages[@]}"
cargo build --release -p lamer-host

echo
echo "lamer-host: target/release/lamer-host"
echo "plugins:    $(ls target/wasm32-wasip2/plugin/*.wasm | tr '\n' ' ')"
