#!/usr/bin/env python3
"""Extract the data the ALFWorld plugin needs from the unpacked `alfworld==0.4.2` wheel.

Usage:
    pip download --no-deps alfworld==0.4.2 -d /tmp/alf
    python3 -m zipfile -e /tmp/alf/alfworld-0.4.2-py3-none-any.whl /tmp/alf/wheel
    python3 plugins/alfworld/data/convert.py /tmp/alf/wheel

It copies the PDDL domain, the TextWorld grammar, the scene layouts and the licence
verbatim, and turns the *data* held in two Python modules (`gen/constants.py`,
`gen/goal_library.py`) into `alfworld.json`. Only the standard library is used.
"""

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The six task types LaMer plays, numbered as in ALFWorld's task-type ids.
TASK_TYPES = {
    1: "pick_and_place_simple",
    2: "look_at_obj_in_light",
    3: "pick_clean_then_place_in_recep",
    4: "pick_heat_then_place_in_recep",
    5: "pick_cool_then_place_in_recep",
    6: "pick_two_obj_and_place",
}


def run_module(path: Path) -> dict:
    """Executes a data-only module (stdlib imports only) and returns its namespace."""
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace


def as_sorted(value):
    if isinstance(value, (set, frozenset, list, tuple, range)):
        return sorted(value)
    return value


def main(wheel: Path) -> None:
    pkg = wheel / "alfworld"
    for name in ("alfred.pddl", "alfred.twl2"):
        shutil.copy(pkg / "data" / name, HERE / name)
    layouts = HERE / "layouts"
    layouts.mkdir(exist_ok=True)
    scenes = {}
    for path in sorted((pkg / "gen" / "layouts").glob("FloorPlan*-objects.json")):
        shutil.copy(path, layouts / path.name)
        scene = path.name[: -len("-objects.json")]
        openable_path = path.with_name(f"{scene}-openable.json")
        shutil.copy(openable_path, layouts / openable_path.name)
        openable = json.loads(openable_path.read_text())
        scenes[scene] = {
            "objects": sorted(set(json.loads(path.read_text()))),
            # Receptacle instance id -> agent pose [x, z, rotation, horizon].
            "receptacles": {k: openable[k] for k in sorted(openable)},
        }
    licence = next(wheel.glob("alfworld-*.dist-info/LICENSE"))
    shutil.copy(licence, HERE / "LICENSE")

    constants = run_module(pkg / "gen" / "constants.py")
    goals = run_module(pkg / "gen" / "goal_library.py")["gdict"]
    val_receptacle_objects = {
        k: sorted(v) for k, v in sorted(constants["VAL_RECEPTACLE_OBJECTS"].items())
    }
    # Anything a receptacle can hold can be picked up (THOR's pickupable set).
    pickupable = sorted({o for v in val_receptacle_objects.values() for o in v})
    data = {
        "source": "alfworld==0.4.2 wheel: alfworld/gen/constants.py, alfworld/gen/goal_library.py, "
        "alfworld/gen/layouts/FloorPlan*-{objects,openable}.json",
        "task_types": {
            str(k): {
                "name": v,
                "pddl": goals[v]["pddl"],
                "templates": goals[v]["templates"],
            }
            for k, v in TASK_TYPES.items()
        },
        "objects": constants["OBJECTS"],
        "receptacles": sorted(constants["RECEPTACLES"]),
        "movable_receptacles": constants["MOVABLE_RECEPTACLES"],
        "openable_class_list": constants["OPENABLE_CLASS_LIST"],
        "val_receptacle_objects": val_receptacle_objects,
        "val_action_objects": {
            k: sorted(v) for k, v in sorted(constants["VAL_ACTION_OBJECTS"].items())
        },
        "pickupable": pickupable,
        "goals_valid": {k: sorted(v) for k, v in constants["GOALS_VALID"].items()},
        "scene_type": {k: [min(v), max(v)] for k, v in constants["SCENE_TYPE"].items()},
        "train_scene_numbers": constants["TRAIN_SCENE_NUMBERS"],
        "test_scene_numbers": constants["TEST_SCENE_NUMBERS"],
        "scenes": scenes,
    }
    (HERE / "alfworld.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
