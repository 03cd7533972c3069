#!/usr/bin/env bash
# End to end against a real OpenAI-compatible server we did not write:
# `transformers serve` on 127.0.0.1 serving lamer's built-in tiny model.
#
#   [TASKS=2] [PLUGINS="sokoban minesweeper webshop alfworld"] bench/openai/live.sh [--record]
#
# 1. builds lamer-host and the plugins, materialises the tiny model (an
#    in-process candle eval of sokoban, which is also the benchmark baseline);
# 2. exports the tiny model in the form transformers loads (export_tiny.py)
#    and starts `transformers serve` on a free loopback port;
# 3. runs `lamer-host eval --policy openai --wire chat` on TASKS tasks of every
#    plugin, and checks that `--wire token-exact` fails with a clear one-line
#    error (transformers serve's /v1/completions takes text prompts only and
#    no logprobs);
# 4. with --record, re-records the replay fixtures in
#    host/openai/tests/fixtures/transformers-serve/.
#
# The server lives in a private venv: $LAMER_SERVE_VENV, or
# ~/.cache/lamer/serve-venv, created with CPU torch and transformers[serving].
# Outputs go to runs/openai-live/. The server is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

TASKS="${TASKS:-2}"
PLUGINS="${PLUGINS:-sokoban minesweeper webshop alfworld}"
MAX_NEW_TOKENS="${MAX_NEW_TOKENS:-32}"
record=no
[ "${1:-}" = "--record" ] && record=yes

venv="${LAMER_SERVE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/lamer/serve-venv}"
if [ ! -x "$venv/bin/transformers" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        --index-url https://download.pytorch.org/whl/cpu torch
    "$venv/bin/pip" install --quiet --disable-pip-version-check "transformers[serving]==5.24.0"
fi
# The serving extras, in case the venv was made for something else.
"$venv/bin/python" -c "import fastapi, uvicorn, openai" 2>/dev/null ||
    "$venv/bin/pip" install --quiet --disable-pip-version-check fastapi uvicorn "openai>=1.98.0" accelerate

cargo build --release -p lamer-host
./scripts/build.sh >/dev/null 2>&1
host=target/release/lamer-host
plugin_dir=target/wasm32-wasip2/plugin
out=runs/openai-live
mkdir -p "$out"

# The in-process baseline; it also materialises the tiny model.
"$host" eval --plugin "$plugin_dir/sokoban.wasm" --policy llm --tasks "$TASKS" \
    --max-new-tokens "$MAX_NEW_TOKENS" --no-progress --out "$out/candle-sokoban" >/dev/null
echo "candle sokoban (in process): $(tr -d '\n ' < "$out/candle-sokoban/timing.json")"
tiny="${LAMER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lamer}/models/tiny-v1"
served="$out/tiny-served"
"$venv/bin/python" bench/openai/export_tiny.py "$tiny" "$served" >/dev/null
served="$(cd "$served" && pwd)"

port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$venv/bin/transformers" serve "$served" --host 127.0.0.1 --port "$port" --device cpu \
    >"$out/server.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT
base="http://127.0.0.1:$port/v1"
for _ in $(seq 120); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$out/server.log"; exit 1; }
    sleep 1
done

if [ "$record" = yes ]; then
    python3 bench/openai/record_fixtures.py "$base" "$served" \
        host/openai/tests/fixtures/transformers-serve
    # The replay tests know the served model as /tmp/tiny-served.
    sed -i "s#$served#/tmp/tiny-served#g" host/openai/tests/fixtures/transformers-serve/*.json
fi

for name in $PLUGINS; do
    plugin="$plugin_dir/$name.wasm"
    start=$(date +%s)
    "$host" eval --plugin "$plugin" --policy openai --base-url "$base" --model "$served" \
        --omit-top-k --tasks "$TASKS" --max-new-tokens "$MAX_NEW_TOKENS" --no-progress \
        --out "$out/openai-$name" | grep -E "policy|pass@k|^[123] |LLM calls|wall time"
    echo "$name: $(( $(date +%s) - start )) s; $(tr -d '\n ' < "$out/openai-$name/timing.json")"
done

# Token-exact: this server cannot; the eval must say so in one line and fail.
if "$host" eval --plugin "$plugin_dir/sokoban.wasm" --policy openai --wire token-exact \
    --tokenizer tiny --base-url "$base" --model "$served" --omit-top-k --tasks 1 \
    --no-progress --out "$out/openai-token-exact" 2>"$out/token-exact.err"; then
    echo "token-exact unexpectedly succeeded against transformers serve" >&2
    exit 1
fi
echo "token-exact (expected refusal): $(cat "$out/token-exact.err")"
