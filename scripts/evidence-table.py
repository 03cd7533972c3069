#!/usr/bin/env python3
"""Prints RESULTS.md's evidence table from the run directory that
scripts/evidence-keydoor.sh filled: one row per evaluated model, then the
mean ± standard deviation over seeds per method."""

import json
import pathlib
import statistics
import sys

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "runs/evidence")


def row(name, report):
    p = report["pass_at_k"]
    d = report.get("diversity") or {}
    return [name, report["mode"], *p, report["invalid_action_ratio"],
            d.get("mean_entropy_nats", float("nan")), d.get("mean_distinct", float("nan"))]


rows, by_method = [], {}
for path in sorted(out.glob("*eval*/report.json")):
    name = path.parent.name.removesuffix("-eval")
    r = row(name, json.loads(path.read_text()))
    rows.append(r)
    method = name.rsplit("-s", 1)[0] if name.startswith(("lamer", "gigpo", "grpo")) else None
    if method:
        by_method.setdefault(method, []).append(r)

head = "| model | eval mode | pass@1 | pass@2 | pass@3 | invalid actions | diversity (nats) | distinct of 4 |"
print(head)
print("|" + "---|" * 8)
for r in rows:
    print(f"| {r[0]} | {r[1]} | " + " | ".join(f"{v:.3f}" for v in r[2:7]) + f" | {r[7]:.2f} |")
print()
print("| method | seeds | pass@1 | pass@2 | pass@3 | invalid actions | diversity (nats) |")
print("|" + "---|" * 7)
for method, rs in by_method.items():
    cells = []
    for i in range(2, 7):
        values = [r[i] for r in rs]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        cells.append(f"{statistics.mean(values):.3f} ± {sd:.3f}")
    print(f"| {method} | {len(rs)} | " + " | ".join(cells) + " |")
