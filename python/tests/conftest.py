"""Shared fixtures: where the lamer-host binary and the compiled plugins are,
and a running `lamer-host serve` for the client tests.

`scripts/test.sh` sets LAMER_HOST and LAMER_PLUGIN_DIR; the defaults are the
paths a `cargo test --release --workspace` in this checkout leaves behind.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGINS = ["keydoor", "sokoban", "minesweeper", "webshop", "alfworld"]


def lamer_host() -> Path:
    path = Path(os.environ.get("LAMER_HOST", REPO / "target/release/lamer-host"))
    if not path.is_file():
        pytest.fail(f"no lamer-host at {path}; build it (cargo build --release -p lamer-host) or set LAMER_HOST")
    return path


def plugin_path(name: str) -> Path:
    root = Path(os.environ.get("LAMER_PLUGIN_DIR", REPO / "target/plugins/wasm32-wasip2/plugin"))
    path = root / f"{name}.wasm"
    if not path.is_file():
        pytest.fail(f"no plugin {path}; run cargo test --release -p lamer-tests, or set LAMER_PLUGIN_DIR")
    return path


def transcript(name: str, split: str, task: int, policy: str = "random", seed: int = 7) -> dict:
    """The episode as `lamer-host transcript` records it."""
    out = subprocess.run(
        [str(lamer_host()), "transcript", "--plugin", str(plugin_path(name)), "--split", split,
         "--task", str(task), "--policy", policy, "--seed", str(seed), "--format", "json"],
        check=True, capture_output=True, text=True, timeout=300,
    )
    return json.loads(out.stdout)


class Server:
    """`lamer-host serve` on a free loopback port, stopped at the end."""

    def __init__(self, *extra: str, plugins=PLUGINS, env=None):
        args = [str(lamer_host()), "serve", "--bind", "127.0.0.1:0"]
        for name in plugins:
            args += ["--plugin", str(plugin_path(name))]
        self.process = subprocess.Popen(
            args + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "http://" not in line:
            self.stop()
            pytest.fail(f"lamer-host serve did not start: {line!r} {self.process.stderr.read()!r}")
        self.url = line.split("http://", 1)[1].split()[0]
        self.url = "http://" + self.url

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def server():
    running = Server("--max-sessions", "16")
    yield running
    running.stop()
