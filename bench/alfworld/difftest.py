#!/usr/bin/env python3
"""Differential test of the Rust ALFWorld engine against TextWorld 1.7.0 + ALFWorld 0.4.2.

Our side: `alfworld_tool walks` (an example of the `lamer-plugin-alfworld` crate) generates
games and walks each with a mix of expert, random admissible and invalid commands, printing
our intro, observations and admissible lists as JSON lines.

Their side: each game's `game.tw-pddl` is played through `textworld.gym` exactly as ALFWorld
and LaMer build the env (AlfredDemangler(shuffle=False), AlfredInfos, max_episode_steps=50,
batch_size=1), replaying the same commands. Intro, every observation, every admissible list
and `won` are compared.

Usage (from the repository root):
    python3 bench/alfworld/difftest.py [--games-per-split 20] [--steps 40] [--fixtures N] [--first 0]
                                       [--splits train,test,ood] [--overwrite-fixtures]
                                       [--result bench/alfworld/difftest_result.json]

It creates the venv /work/venvs/alfworld (or $ALFWORLD_VENV) with the pinned oracle if it
is missing (fast-downward builds from source: ~15 min), then re-executes itself inside it.
Writes the summary (default bench/alfworld/difftest_result.json), and with --fixtures N the first N walks of each
split as TextWorld transcripts into plugins/alfworld/tests/fixtures/textworld/ (existing
fixture files are kept unless --overwrite-fixtures is given).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("ALFWORLD_VENV", "/work/venvs/alfworld"))
PINS = ["textworld[pddl]==1.7.0", "alfworld==0.4.2"]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
TOOL = TARGET / "release" / "examples" / "alfworld_tool"


def ensure_venv():
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", *PINS], check=True)
    os.execv(str(python), [str(python), *sys.argv])


def our_walks(split, first, count, steps, seed):
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "lamer-plugin-alfworld", "--example", "alfworld_tool"],
        cwd=ROOT,
        check=True,
    )
    out = subprocess.run(
        [str(TOOL), "walks", split, str(first), str(count), str(steps), str(seed)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def make_env(gamefile):
    import textworld
    import textworld.gym
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos

    infos = textworld.EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])
    env_id = textworld.gym.register_games(
        [gamefile],
        infos,
        batch_size=1,
        asynchronous=True,
        max_episode_steps=50,
        wrappers=[AlfredDemangler(shuffle=False), AlfredInfos],
    )
    return textworld.gym.make(env_id)


def their_walk(walk, tmp):
    gamefile = Path(tmp) / f"{walk['split']}-{walk['index']}.tw-pddl"
    gamefile.write_text(json.dumps(walk["game"]))
    started = time.perf_counter()
    env = make_env(str(gamefile))
    obs, infos = env.reset()
    reset_seconds = time.perf_counter() - started
    record = {
        "split": walk["split"],
        "index": walk["index"],
        "intro": obs[0],
        "admissible": list(infos["admissible_commands"][0]),
        "steps": [],
    }
    record["reset_seconds"] = reset_seconds
    for step in walk["steps"]:
        started = time.perf_counter()
        obs, scores, dones, infos = env.step([step["command"]])
        record["step_seconds"] = record.get("step_seconds", 0.0) + time.perf_counter() - started
        record["steps"].append(
            {
                "command": step["command"],
                "observation": obs[0],
                "won": bool(infos["won"][0]),
                "admissible": [] if dones[0] else list(infos["admissible_commands"][0]),
            }
        )
        if dones[0]:
            break
    env.close()
    return record


def compare(ours, theirs):
    problems = []
    if ours["intro"] != theirs["intro"]:
        problems.append({"where": "intro", "ours": ours["intro"], "theirs": theirs["intro"]})
    if ours["admissible"] != theirs["admissible"]:
        problems.append({"where": "admissible 0", "ours": ours["admissible"], "theirs": theirs["admissible"]})
    if len(ours["steps"]) != len(theirs["steps"]):
        problems.append({"where": "length", "ours": len(ours["steps"]), "theirs": len(theirs["steps"])})
    for k, (a, b) in enumerate(zip(ours["steps"], theirs["steps"]), 1):
        for key in ("observation", "won", "admissible"):
            if a[key] != b[key]:
                problems.append({"where": f"step {k} {key}", "command": a["command"], "ours": a[key], "theirs": b[key]})
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--games-per-split", type=int, default=20)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fixtures", type=int, default=0)
    parser.add_argument("--splits", default="train,test,ood")
    parser.add_argument("--first", type=int, default=0, help="first task index of each split")
    parser.add_argument("--overwrite-fixtures", action="store_true")
    parser.add_argument("--result", default="bench/alfworld/difftest_result.json", help="summary path, relative to the repository root")
    args = parser.parse_args()
    ensure_venv()

    summary = {"command": "python3 bench/alfworld/difftest.py " + " ".join(sys.argv[1:]), "per_split": {}, "games": 0, "steps": 0, "admissible_lists": 0, "games_with_differences": 0, "wins": 0, "differences": []}
    with tempfile.TemporaryDirectory() as tmp:
        started_run = time.perf_counter()
        for split in args.splits.split(","):
            walks = our_walks(split, args.first, args.games_per_split, args.steps, args.seed)
            for n, walk in enumerate(walks):
                theirs = their_walk(walk, tmp)
                problems = compare(walk, theirs)
                summary["games"] += 1
                summary["steps"] += len(theirs["steps"])
                summary["admissible_lists"] += 1 + len(theirs["steps"])
                summary["wins"] += int(any(s["won"] for s in theirs["steps"]))
                summary["textworld_step_seconds"] = summary.get("textworld_step_seconds", 0.0) + theirs.pop("step_seconds", 0.0)
                summary["textworld_reset_seconds"] = summary.get("textworld_reset_seconds", 0.0) + theirs.pop("reset_seconds", 0.0)
                summary["textworld_seconds_per_step"] = summary["textworld_step_seconds"] / max(summary["steps"], 1)
                summary["textworld_seconds_per_reset"] = summary["textworld_reset_seconds"] / summary["games"]
                summary["wall_seconds"] = time.perf_counter() - started_run
                per_split = summary["per_split"].setdefault(split, {"games": 0, "steps": 0, "games_with_differences": 0})
                per_split["games"] += 1
                per_split["steps"] += len(theirs["steps"])
                per_split["games_with_differences"] += int(bool(problems))
                if problems:
                    summary["games_with_differences"] += 1
                    summary["differences"].append({"split": split, "index": walk["index"], "task_type": walk["task_type"], "problems": problems[:5]})
                print(f"{split}/{walk['index']} {walk['task_type']}: {len(theirs['steps'])} steps, {len(problems)} differences", flush=True)
                for problem in problems[:2]:
                    print("   ", json.dumps(problem)[:2000], flush=True)
                if n < args.fixtures:
                    folder = ROOT / "plugins" / "alfworld" / "tests" / "fixtures" / "textworld"
                    folder.mkdir(parents=True, exist_ok=True)
                    fixture = folder / f"{split}-{walk['index']}.json"
                    if args.overwrite_fixtures or not fixture.exists():
                        fixture.write_text(json.dumps(theirs, indent=1) + "\n")
                # Written after every game, so a long run can be read while it goes.
                out = ROOT / args.result
                out.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "differences"}))


if __name__ == "__main__":
    main()
