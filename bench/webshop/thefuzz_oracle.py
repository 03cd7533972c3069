#!/usr/bin/env python3
"""Differential oracle: thefuzz's token_set_ratio for string pairs.

Reads JSON lines `[a, b]` from stdin and prints one integer score per line,
`thefuzz.fuzz.token_set_ratio(a, b)` with thefuzz 0.22.1 (rapidfuzz backend),
the version the Rust port (`plugins/webshop/src/fuzz.rs`) reproduces.

`--setup` creates the venv /work/venvs/webshop-bench (or $WEBSHOP_VENV) with
the pinned package and prints its python path; the Rust test
`tests/thefuzz_diff.rs` runs this script with `$LAMER_PYTHON` (else python3).
"""
import json
import os
import subprocess
import sys

PINNED = ["thefuzz==0.22.1"]


def setup() -> None:
    venv = os.environ.get("WEBSHOP_VENV", "/work/venvs/webshop-bench")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        subprocess.check_call([sys.executable, "-m", "venv", venv])
    subprocess.check_call([python, "-m", "pip", "install", "--quiet", *PINNED])
    print(python)


def main() -> int:
    if "--setup" in sys.argv:
        setup()
        return 0
    try:
        from thefuzz import fuzz
    except ImportError:
        sys.stderr.write(
            "thefuzz is not installed for this python; install it with "
            "`pip install thefuzz==0.22.1` or run "
            "`python3 bench/webshop/thefuzz_oracle.py --setup` and set LAMER_PYTHON "
            "to the printed interpreter\n"
        )
        return 3
    out = []
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        a, b = json.loads(line)
        out.append(str(fuzz.token_set_ratio(a, b)))
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
