#!/usr/bin/env python3
"""Python baseline for WebShop step throughput: rank-bm25 over the same catalogue.

Replays the step mix of `plugins/webshop/benches/webshop.rs` in Python, the way
the reference text env works: every search (and every `< prev` / `next >` on
results, which re-run the search in the reference) scores all documents with
`rank_bm25.BM25Okapi(k1=0.9, b=0.4)` and takes the top 50; every page is
rendered as text joined by ` [SEP] `. Per episode: search with a goal
instruction, open the second result, click its first option value (or
description), `< prev`, `next >` = 5 steps.

Usage (creates its own venv with pinned packages on first run):

    cargo run --release -p lamer-plugin-webshop --example export_catalogue -- DIR
    python3 bench/webshop/bm25_baseline.py DIR [--cached]
"""
import json
import os
import re
import subprocess
import sys
import time

PINNED = ["rank-bm25==0.2.2", "numpy==2.2.6"]
VENV = os.environ.get("WEBSHOP_VENV", "/work/venvs/webshop-bench")


def ensure_venv() -> None:
    python = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    if not os.path.exists(python):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    subprocess.check_call([python, "-m", "pip", "install", "--quiet", *PINNED])
    os.execv(python, [python, *sys.argv])


SEP = " [SEP] "
TOKEN = re.compile(r"[a-z0-9]+")
# `--cached`: reuse the hits of the session's current keywords on `< prev` /
# `next >`, as the Rust port does, so only the first search of an episode
# scores documents.
CACHED = "--cached" in sys.argv


def tokenize(text):
    return TOKEN.findall(text.lower())


def main() -> int:
    ensure_venv()
    import numpy as np
    from rank_bm25 import BM25Okapi

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    data = args[0] if args else "/work/venvs/webshop-export"
    with open(os.path.join(data, "items_shuffle_1000.json")) as f:
        products = json.load(f)
    with open(os.path.join(data, "queries.json")) as f:
        queries = json.load(f)

    def options_of(p):
        opts = p.get("customization_options") or {}
        return [(k.lower(), [v["value"].lower() for v in vs]) for k, vs in opts.items()]

    def document(p):
        bullets = p["small_description"]
        first = bullets[0] if isinstance(bullets, list) and bullets else bullets or ""
        option_text = ", and ".join(f"{k}: {', '.join(vs)}" for k, vs in options_of(p))
        return " ".join([p["name"], p["full_description"], first, option_text]).lower()

    t0 = time.perf_counter()
    bm25 = BM25Okapi([tokenize(document(p)) for p in products], k1=0.9, b=0.4)
    build = time.perf_counter() - t0

    cache = {}

    def search(query):
        if CACHED and query in cache:
            return cache[query]
        scores = bm25.get_scores(tokenize(query))
        order = np.argsort(-scores, kind="stable")[:50]
        hits = [int(i) for i in order if scores[i] > 0]
        cache[query] = hits
        return hits

    def results_page(instr, hits, page):
        parts = ["Instruction:", instr, "Back to Search", f"Page {page} (Total results: {len(hits)})"]
        if page > 1:
            parts.append("< Prev")
        parts.append("Next >")
        for i in hits[(page - 1) * 10 : page * 10]:
            p = products[i]
            parts += [p["asin"], p["name"], p.get("pricing") or "$100.0"]
        return SEP.join(parts)

    def item_page(instr, p):
        parts = ["Instruction:", instr, "Back to Search", "< Prev"]
        for k, vs in options_of(p):
            parts += [k, *vs]
        parts += [p["name"], f"Price: {p.get('pricing')}", "Rating: N.A.", "Description", "Features", "Reviews", "Buy Now"]
        return SEP.join(parts)

    def episode(instr):
        cache.clear()  # a new session: nothing searched yet
        hits = search(instr)
        obs = results_page(instr, hits, 1)
        if len(hits) < 2:
            return 1
        p = products[hits[1]]
        obs = item_page(instr, p)  # click the second result
        obs = item_page(instr, p)  # click an option value (or description)
        hits = search(instr)  # < prev re-runs the search
        obs = results_page(instr, hits, 1)
        hits = search(instr)  # next > re-runs the search
        obs = results_page(instr, hits, 2)
        return 5 if obs else 0

    steps = 0
    t0 = time.perf_counter()
    rounds = 3
    for _ in range(rounds):
        for q in queries:
            steps += episode(q)
    elapsed = time.perf_counter() - t0
    print(json.dumps({
        "cached_paging": CACHED,
        "products": len(products),
        "index_build_s": round(build, 4),
        "episodes": rounds * len(queries),
        "steps": steps,
        "seconds": round(elapsed, 4),
        "steps_per_second": round(steps / elapsed, 1),
        "us_per_step": round(1e6 * elapsed / steps, 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
