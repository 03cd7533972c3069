"""The lamer-envs wheel under Gymnasium: its own checker on every bundled
environment, determinism against `lamer-host transcript`, a trapped plugin,
and a vector of environments."""

from __future__ import annotations

import subprocess

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import lamer_envs
from conftest import lamer_host, plugin_path, transcript

SPLIT, TASK = "test", 2


@pytest.mark.parametrize("env_id", sorted(lamer_envs.BUNDLED))
def test_check_env_passes_on_every_bundled_env(env_id):
    env = gymnasium.make(env_id)
    check_env(env.unwrapped)
    env.close()


def test_all_five_plugins_are_bundled():
    missing = [s for s in lamer_envs.BUNDLED.values() if not lamer_envs.bundled_path(s).is_file()]
    assert not missing
    assert set(lamer_envs.BUNDLED) <= set(gymnasium.registry)


@pytest.mark.parametrize("env_id", sorted(lamer_envs.BUNDLED))
def test_same_task_and_actions_give_the_transcripts_observations(env_id):
    name = lamer_envs.BUNDLED[env_id]
    expected = transcript(name, SPLIT, TASK)
    env = gymnasium.make(env_id).unwrapped
    observation, info = env.reset(options={"split": SPLIT, "index": TASK})
    assert observation == expected["reset"]["observation"]
    assert info["task"] == {"split": SPLIT, "index": TASK}
    for step in expected["steps"]:
        observation, reward, terminated, truncated, info = env.step(step["action"])
        result = step["result"]
        assert observation == result["observation"]
        assert reward == pytest.approx(result["reward"])
        assert (terminated, truncated) == (result["terminated"], result["truncated"])
        assert info["won"] == result["won"] and info["action_valid"] == result["action_valid"]
        assert info["action"] == result["action_echo"]
        for pair in result["info"]:
            assert info[pair["key"]] == pair["value"]


def test_reset_is_deterministic_by_seed_and_restart_is_identical():
    env = lamer_envs.make("sokoban")
    count = next(s["task_count"] for s in env.env_info["splits"] if s["name"] == "train")
    first, info = env.reset(seed=99)
    assert info["task"] == {"split": "train", "index": 99 % count}
    again, _ = env.reset(seed=99)
    assert first == again
    env.step(env.expert_action())
    restarted, _ = env.restart()
    assert restarted == first
    assert env.admissible_actions()
    assert env.prompt()["rules"]


def test_a_trapped_plugin_raises_and_the_next_reset_works():
    env = lamer_envs.make(plugin_path("hostile"), config={"attack": "panic"})
    env.reset(seed=0)
    with pytest.raises(lamer_envs.PluginError, match="trapped"):
        env.step("attack")
    observation, _ = env.reset(seed=0)
    assert isinstance(observation, str)
    looping = lamer_envs.make(plugin_path("hostile"), config={"attack": "infinite-loop"}, call_timeout_ms=200)
    looping.reset(seed=0)
    with pytest.raises(lamer_envs.PluginError, match="deadline"):
        looping.step("attack")
    looping.reset(seed=0)


def test_errors_carry_the_clis_one_line_message():
    env = lamer_envs.make("sokoban")
    with pytest.raises(lamer_envs.EnvError) as raised:
        env.reset(options={"split": "no-such-split", "index": 0})
    cli = subprocess.run(
        [str(lamer_host()), "transcript", "--plugin", str(plugin_path("sokoban")), "--split", "no-such-split",
         "--task", "0", "--policy", "expert"],
        capture_output=True, text=True, timeout=120,
    )
    assert cli.returncode != 0
    assert cli.stderr.strip() == f"error: {raised.value}"
    with pytest.raises(lamer_envs.LoadError, match="does not exist"):
        lamer_envs.make("/no/such/plugin.wasm")


def test_a_sync_vector_env_of_eight_runs():
    envs = gymnasium.vector.SyncVectorEnv([lambda: gymnasium.make("lamer/Sokoban-v0") for _ in range(8)])
    observations, _ = envs.reset(seed=5)
    assert len(observations) == 8 and all(isinstance(o, str) for o in observations)
    assert len(set(observations)) > 1, "each copy gets its own seed, so its own task"
    for _ in range(5):
        observations, rewards, terminated, truncated, _ = envs.step(("up",) * 8)
        assert len(observations) == 8 and len(rewards) == 8
    envs.close()
