#!/usr/bin/env bash
# Sokoban and MineSweeper: the Python references (bench/python) and the wasm
# plugins (lamer-host bench), run one after the other on the same machine,
# each 5 times; prints the medians and the wasm / Python ratios.
#
#   ./scripts/build.sh && bench/side-by-side.sh
#
# The wasm resets use the same 100 Sokoban test seeds as the Python reset
# (2^16 .. 2^16+99); steps are random (admissible, in wasm) moves/cells.
set -euo pipefail
cd "$(dirname "$0")/.."
host=target/release/lamer-host
plugins=target/wasm32-wasip2/plugin

python=$(bench/python/run.sh 2>/dev/null | grep -E '^(sokoban|mines)_(reset|step): median')
echo "$python"

wasm_median() { # plugin, tasks, steps, field
    for _ in 1 2 3 4 5; do
        "$host" bench --plugin "$plugins/$1.wasm" --tasks "$2" --steps "$3" --json
    done | python3 -c '
import json, statistics, sys
text = sys.stdin.read().replace("}\n{", "}\x00{")
runs = [json.loads(chunk) for chunk in text.split("\x00") if chunk.strip()]
print(statistics.median(r[sys.argv[1]] for r in runs))' "$4"
}

row() { # label, python name, plugin, tasks, steps, field
    local py wasm
    py=$(echo "$python" | sed -n "s/^$2: median \([0-9.]*\).*/\1/p")
    wasm=$(wasm_median "$3" "$4" "$5" "$6")
    python3 -c "import sys; p, w = float(sys.argv[2]), float(sys.argv[3]); \
print(f'{sys.argv[1]:<20} python {p:>10.1f}/s   wasm {w:>10.1f}/s   {w / p:7.1f}x')" "$1" "$py" "$wasm"
}

row "sokoban reset" sokoban_reset sokoban 100 5000 resets_per_s
row "sokoban step" sokoban_step sokoban 100 5000 steps_per_s
row "minesweeper reset" mines_reset minesweeper 200 20000 resets_per_s
row "minesweeper step" mines_step minesweeper 200 20000 steps_per_s
