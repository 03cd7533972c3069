"""lamer-envs: lamer's sandboxed WebAssembly environments with the Gymnasium API.

    import gymnasium, lamer_envs
    env = gymnasium.make("lamer/Sokoban-v0")            # a bundled environment
    env = lamer_envs.make("path/to/my_env.wasm", split="test", config={...})

Each environment runs in the same wasmtime sandbox as the ``lamer-host`` CLI:
a deadline per call, a memory cap, no files, environment or network.
Importing the package registers the bundled environments under ``lamer/``.
"""

from __future__ import annotations

from ._native import EnvError, LamerError, LoadError, PluginError
from .env import BUNDLED, LamerEnv, TextSpace, bundled_path, load_plugin, make

__all__ = [
    "BUNDLED",
    "EnvError",
    "LamerEnv",
    "LamerError",
    "LoadError",
    "PluginError",
    "TextSpace",
    "bundled_path",
    "load_plugin",
    "make",
]


def _register() -> None:
    import gymnasium

    for env_id, stem in BUNDLED.items():
        if env_id not in gymnasium.registry and bundled_path(stem).is_file():
            gymnasium.register(
                id=env_id,
                entry_point="lamer_envs.env:LamerEnv",
                kwargs={"plugin": stem},
                # The plugin truncates at its own turn limit.
                max_episode_steps=None,
                disable_env_checker=False,
            )


_register()
