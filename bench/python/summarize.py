"""Reads bench.py JSON lines on stdin and prints the median of the runs."""

import json
import statistics
import sys

rows = [json.loads(line) for line in sys.stdin if line.startswith("{")]
values = sorted(r["ops_per_s"] for r in rows)
name, count = rows[0]["bench"], rows[0]["count"]
print(
    f"{name}: median {statistics.median(values):.1f} ops/s "
    f"(min {values[0]:.1f}, max {values[-1]:.1f}; {len(values)} runs x {count})"
)
