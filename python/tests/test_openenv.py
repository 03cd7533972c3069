"""`lamer-host serve` driven by clients we did not write: OpenEnv's own
client (from PyPI) over WebSocket, `requests` over plain HTTP, and OpenEnv's
validator. Every plugin must give the same observations as `lamer-host
transcript` for the same task and actions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from openenv.core import GenericEnvClient

from conftest import PLUGINS, Server, transcript

SPLIT, TASK = "test", 2


def assert_same_step(observed: dict, reward, done, expected: dict) -> None:
    """One step through the server against the same step of the transcript."""
    result = expected["result"]
    assert observed["text"] == result["observation"]
    assert reward == pytest.approx(result["reward"])
    assert done == (result["terminated"] or result["truncated"])
    for key in ("terminated", "truncated", "won", "action_valid"):
        assert observed[key] == result[key], key
    assert observed["action"] == result["action_echo"]
    assert observed["info"] == {p["key"]: p["value"] for p in result["info"]}


@pytest.mark.parametrize("name", PLUGINS)
def test_openenv_client_over_websocket_matches_the_transcript(server, name):
    expected = transcript(name, SPLIT, TASK)
    assert expected["steps"], "the transcript should play at least one step"
    with GenericEnvClient(base_url=server.url).sync() as client:
        reset = client.reset(env=expected["env"], split=SPLIT, index=TASK)
        assert reset.observation["text"] == expected["reset"]["observation"]
        assert reset.observation["task"] == {"split": SPLIT, "index": TASK}
        assert reset.done is False
        for step in expected["steps"]:
            result = client.step({"text": step["action"]})
            assert_same_step(result.observation, result.reward, result.done, step)
        state = client.state()
        assert state["step_count"] == len(expected["steps"])


@pytest.mark.parametrize("name", PLUGINS)
def test_plain_http_sessions_match_the_transcript(server, name):
    expected = transcript(name, SPLIT, TASK, seed=11)
    reset = requests.post(f"{server.url}/reset", json={"env": expected["env"], "split": SPLIT, "index": TASK}, timeout=60)
    assert reset.status_code == 200, reset.text
    body = reset.json()
    session = body["session_id"]
    assert body["observation"]["text"] == expected["reset"]["observation"]
    for step in expected["steps"]:
        answer = requests.post(f"{server.url}/step", json={"session_id": session, "action": {"text": step["action"]}}, timeout=60)
        assert answer.status_code == 200, answer.text
        data = answer.json()
        assert_same_step(data["observation"], data["reward"], data["done"], step)
    restart = requests.post(f"{server.url}/restart", json={"session_id": session}, timeout=60).json()
    assert restart["observation"]["text"] == expected["reset"]["observation"]
    closed = requests.post(f"{server.url}/close", json={"session_id": session}, timeout=60)
    assert closed.status_code == 200
    gone = requests.post(f"{server.url}/step", json={"session_id": session, "action": "x"}, timeout=60)
    assert gone.status_code == 404 and gone.json()["code"] == "UNKNOWN_SESSION"


def test_a_seed_is_mapped_to_a_task_never_dropped(server):
    with GenericEnvClient(base_url=server.url).sync() as client:
        first = client.reset(env="sokoban", seed=1234)
        again = client.reset(env="sokoban", seed=1234)
        assert first.observation == again.observation
        assert first.observation["seed"] == 1234
        with pytest.raises(RuntimeError, match="VALIDATION_ERROR"):
            client.reset(env="sokoban", sed=1234)


def test_extensions_over_websocket(server):
    with GenericEnvClient(base_url=server.url).sync() as client:
        client.reset(env="sokoban", split=SPLIT, index=TASK)
    # OpenEnv's client has no calls for our extensions; its raw socket does.
    from websockets.sync.client import connect

    ws_url = server.url.replace("http://", "ws://") + "/ws"
    with connect(ws_url) as ws:
        ws.send(json.dumps({"type": "reset", "data": {"env": "sokoban", "split": SPLIT, "index": TASK}}))
        first = json.loads(ws.recv())
        ws.send(json.dumps({"type": "admissible_actions"}))
        actions = json.loads(ws.recv())
        assert actions["type"] == "admissible_actions" and actions["data"]["admissible_actions"]
        ws.send(json.dumps({"type": "expert_action"}))
        expert = json.loads(ws.recv())["data"]["expert_action"]
        assert isinstance(expert, str)
        ws.send(json.dumps({"type": "step", "data": {"text": expert}}))
        json.loads(ws.recv())
        ws.send(json.dumps({"type": "restart"}))
        restarted = json.loads(ws.recv())
        assert restarted["data"]["observation"] == first["data"]["observation"]
        ws.send(json.dumps({"type": "prompt"}))
        prompt = json.loads(ws.recv())["data"]["prompt"]
        assert prompt["rules"]
        ws.send("{not json")
        error = json.loads(ws.recv())
        assert error["type"] == "error" and error["data"]["code"] == "INVALID_JSON"


def openenv_cli() -> str:
    candidate = Path(sys.executable).with_name("openenv")
    return str(candidate) if candidate.exists() else (shutil.which("openenv") or "openenv")


def test_openenv_validator_passes_against_the_server(server):
    out = subprocess.run([openenv_cli(), "validate", "--url", server.url, "--json"], capture_output=True, text=True, timeout=120)
    report = json.loads(out.stdout)
    failed = [(c["id"], c.get("details"), c.get("actual")) for c in report["criteria"] if not c["passed"]]
    print("openenv validate:", json.dumps(report["summary"]))
    assert report["passed"], failed
    assert out.returncode == 0


def test_capacity_is_a_clear_error_not_a_queue():
    small = Server("--max-sessions", "2", plugins=["sokoban"])
    try:
        clients = [GenericEnvClient(base_url=small.url).sync() for _ in range(2)]
        for client in clients:
            client.connect()
            client.reset(seed=1)
        extra = GenericEnvClient(base_url=small.url).sync()
        with pytest.raises(Exception, match="CAPACITY_REACHED"):
            extra.connect()
            extra.reset(seed=1)
        for client in clients:
            client.close()
    finally:
        small.stop()


def test_bearer_token_guards_everything_but_health():
    guarded = Server("--token-env", "LAMER_TEST_TOKEN", plugins=["sokoban"], env={"LAMER_TEST_TOKEN": "s3cret"})
    try:
        assert requests.get(f"{guarded.url}/health", timeout=10).status_code == 200
        assert requests.post(f"{guarded.url}/reset", json={}, timeout=10).status_code == 401
        headers = {"Authorization": "Bearer s3cret"}
        assert requests.post(f"{guarded.url}/reset", json={"seed": 3}, headers=headers, timeout=10).status_code == 200
        with GenericEnvClient(base_url=guarded.url, headers=headers).sync() as client:
            assert client.reset(seed=3).observation["text"]
    finally:
        guarded.stop()
