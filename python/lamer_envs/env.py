"""The Gymnasium environment around one sandboxed plugin session."""

from __future__ import annotations

import json
import string
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import gymnasium
from gymnasium import spaces

from . import _native

PLUGIN_DIR = Path(__file__).resolve().parent / "plugins"

#: Gymnasium id -> bundled plugin file stem.
BUNDLED: Dict[str, str] = {
    "lamer/KeyDoor-v0": "keydoor",
    "lamer/Sokoban-v0": "sokoban",
    "lamer/MineSweeper-v0": "minesweeper",
    "lamer/WebShop-v0": "webshop",
    "lamer/ALFWorld-v0": "alfworld",
}

_PLUGINS: Dict[Tuple[str, Optional[int], Optional[int]], "_native.Plugin"] = {}
_PLUGINS_LOCK = threading.Lock()


def bundled_path(stem: str) -> Path:
    """Where a bundled plugin lives inside the package."""
    return PLUGIN_DIR / f"{stem}.wasm"


def load_plugin(
    plugin: Union[str, Path],
    call_timeout_ms: Optional[int] = None,
    memory_mib: Optional[int] = None,
) -> "_native.Plugin":
    """Loads a plugin by path, or a bundled one by name (``sokoban``); loaded
    plugins are shared, so many environments of one plugin compile it once."""
    path = Path(plugin)
    if not path.suffix and not path.exists() and bundled_path(str(plugin)).is_file():
        path = bundled_path(str(plugin))
    key = (str(path.resolve()), call_timeout_ms, memory_mib)
    with _PLUGINS_LOCK:
        if key not in _PLUGINS:
            _PLUGINS[key] = _native.Plugin(str(path), call_timeout_ms, memory_mib)
        return _PLUGINS[key]


class TextSpace(spaces.Text):
    """A ``gymnasium.spaces.Text`` that contains any string up to
    ``max_length`` characters (observations hold newlines, punctuation and
    symbols); samples are drawn from printable ASCII."""

    def __init__(self, max_length: int, min_length: int = 0, seed=None):
        super().__init__(
            max_length=max_length,
            min_length=min_length,
            charset=string.ascii_letters + string.digits + string.punctuation + " ",
            seed=seed,
        )

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"TextSpace(max_length={self.max_length})"


class LamerEnv(gymnasium.Env):
    """A lamer plugin as a ``gymnasium.Env`` with text observations and actions.

    ``reset(seed=s)`` plays task ``s mod task_count`` of the split (the same
    mapping as ``lamer-host serve``); ``options={"split": ..., "index": i}``
    picks a task directly. ``step`` returns Gymnasium's 5-tuple; ``info``
    holds ``won``, ``action_valid``, ``action`` (the echo for the history)
    and the environment's info pairs.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        plugin: Union[str, Path, "_native.Plugin"] = "sokoban",
        split: str = "train",
        config: Optional[Dict[str, Any]] = None,
        render_mode: Optional[str] = None,
        call_timeout_ms: Optional[int] = None,
        memory_mib: Optional[int] = None,
        max_observation_length: int = 1 << 20,
        max_action_length: int = 1 << 12,
    ):
        if isinstance(plugin, _native.Plugin):
            self._plugin = plugin
        else:
            self._plugin = load_plugin(plugin, call_timeout_ms, memory_mib)
        self.env_info: Dict[str, Any] = json.loads(self._plugin.info_json())
        self.split = split
        self.config = dict(config or {})
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', not {render_mode!r}")
        self.render_mode = render_mode
        self.observation_space = TextSpace(max_observation_length)
        self.action_space = TextSpace(max_action_length, min_length=1)
        self._session: Optional[_native.Session] = None
        self._observation: Optional[str] = None
        self.task: Optional[Dict[str, Any]] = None

    # -- the Gymnasium API -------------------------------------------------

    def reset(
        self, *, seed: Optional[int] = None, options: Optional[Dict[str, Any]] = None
    ) -> Tuple[str, Dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        split = options.pop("split", self.split)
        index = options.pop("index", None)
        if options:
            raise ValueError(
                f"unknown reset options {sorted(options)}; known: 'split', 'index'"
            )
        if index is None:
            index = self._draw_index(split, seed)
        session = self._live_session()
        try:
            observation, pairs = session.reset(split, int(index))
        except _native.PluginError:
            self._session = None
            raise
        self.task = {"split": split, "index": int(index)}
        self._observation = observation
        info = dict(pairs)
        info["task"] = dict(self.task)
        return observation, info

    def step(self, action: str) -> Tuple[str, float, bool, bool, Dict[str, Any]]:
        if self._session is None:
            raise _native.EnvError("the session has no task yet: call reset first")
        try:
            result = self._session.step(str(action))
        except _native.PluginError:
            self._session = None
            raise
        observation, reward, terminated, truncated, won, valid, echo, pairs = result
        self._observation = observation
        info: Dict[str, Any] = dict(pairs)
        info.update(won=won, action_valid=valid, action=echo)
        return observation, float(reward), terminated, truncated, info

    def render(self) -> Optional[str]:
        if self.render_mode == "ansi":
            return self._observation
        return None

    def close(self) -> None:
        self._session = None
        super().close()

    # -- beyond Gymnasium: what LaMer's attempts need ------------------------

    def restart(self) -> Tuple[str, Dict[str, Any]]:
        """Back to the identical initial state of the current task."""
        observation, pairs = self._require_session().restart()
        self._observation = observation
        info = dict(pairs)
        info["task"] = dict(self.task or {})
        return observation, info

    def admissible_actions(self) -> List[str]:
        """The meaningful actions now."""
        return self._require_session().admissible_actions()

    def expert_action(self) -> Optional[str]:
        """The environment's oracle action, or ``None``."""
        return self._require_session().expert_action()

    def prompt(self) -> Dict[str, Any]:
        """The environment-specific prompt pieces (role, rules, instructions, history window)."""
        return json.loads(self._require_session().prompt_json())

    def brief_observation(self, observation: str) -> str:
        """How an older observation is shown in a history window."""
        return self._plugin.brief_observation(observation)

    # -- helpers ------------------------------------------------------------

    def _task_count(self, split: str) -> int:
        for info in self.env_info.get("splits", []):
            if info["name"] == split:
                return int(info["task_count"])
        return 0

    def _draw_index(self, split: str, seed: Optional[int]) -> int:
        count = self._task_count(split)
        if count == 0:
            # An unknown or empty split: the plugin's reset says so, in the
            # same words as the CLI.
            return 0
        if seed is not None:
            return int(seed) % count
        return int(self.np_random.integers(count, dtype="uint64"))

    def _live_session(self) -> "_native.Session":
        if self._session is None:
            self._session = self._plugin.open(json.dumps(self.config))
        return self._session

    def _require_session(self) -> "_native.Session":
        if self._session is None:
            raise _native.EnvError("the session has no task yet: call reset first")
        return self._session


def make(
    plugin: Union[str, Path] = "sokoban",
    split: str = "train",
    config: Optional[Dict[str, Any]] = None,
    **kwargs: Any,
) -> LamerEnv:
    """A ``LamerEnv`` of a bundled plugin (``"sokoban"``) or a ``.wasm`` path."""
    return LamerEnv(plugin, split=split, config=config, **kwargs)
