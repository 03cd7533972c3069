//! The ALFWorld data embedded in the plugin: the PDDL domain, the TextWorld grammar and
//! `alfworld.json` (goal templates, object/receptacle constants and the 120 scene layouts),
//! all from the MIT-licensed `alfworld==0.4.2` wheel (see `data/README.md`).
//!
//! The JSON is parsed once per process and shared behind a `&'static` reference.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::Deserialize;

/// `alfworld/data/alfred.pddl`, verbatim.
pub const DOMAIN: &str = include_str!("../data/alfred.pddl");
/// `alfworld/data/alfred.twl2`, verbatim; the task text replaces `UNKNOWN GOAL`.
pub const GRAMMAR: &str = include_str!("../data/alfred.twl2");
const CATALOG_JSON: &str = include_str!("../data/alfworld.json");

/// One task type of `goal_library.py`.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskTypeData {
    pub name: String,
    /// The `(:goal …)` block with `{obj}`, `{recep}`, `{toggle}` holes and `#` for `-`.
    pub pddl: String,
    pub templates: Vec<String>,
}

/// One AI2-THOR scene.
#[derive(Debug, Clone, Deserialize)]
pub struct SceneData {
    /// Object and receptacle types present (`…-objects.json`).
    pub objects: Vec<String>,
    /// Receptacle instance id → agent pose `[x, z, rotation, horizon]` (`…-openable.json`).
    pub receptacles: BTreeMap<String, Vec<f64>>,
}

/// Everything `convert.py` extracted.
#[derive(Debug, Clone, Deserialize)]
pub struct Catalog {
    pub task_types: BTreeMap<String, TaskTypeData>,
    pub receptacles: BTreeSet<String>,
    pub movable_receptacles: BTreeSet<String>,
    pub openable_class_list: BTreeSet<String>,
    pub val_receptacle_objects: BTreeMap<String, BTreeSet<String>>,
    pub val_action_objects: BTreeMap<String, BTreeSet<String>>,
    pub pickupable: BTreeSet<String>,
    pub goals_valid: BTreeMap<String, BTreeSet<String>>,
    pub scene_type: BTreeMap<String, [u32; 2]>,
    pub train_scene_numbers: Vec<u32>,
    pub test_scene_numbers: Vec<u32>,
    pub scenes: BTreeMap<String, SceneData>,
}

impl Catalog {
    /// The embedded catalogue. The JSON is part of the binary and checked by the tests, so a
    /// parse failure is a build defect, reported as a message rather than a panic.
    pub fn get() -> Result<&'static Catalog, String> {
        static CATALOG: OnceLock<Result<Catalog, String>> = OnceLock::new();
        CATALOG
            .get_or_init(|| {
                serde_json::from_str(CATALOG_JSON)
                    .map_err(|e| format!("embedded alfworld.json is malformed: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Whether a receptacle type may hold an object type (`canContain`).
    pub fn can_contain(&self, receptacle: &str, object: &str) -> bool {
        self.val_receptacle_objects
            .get(receptacle)
            .is_some_and(|s| s.contains(object))
    }

    /// Whether an object type has an affordance (`Heatable`, `Coolable`, `Cleanable`,
    /// `Toggleable`, `Sliceable`).
    pub fn has_affordance(&self, affordance: &str, object: &str) -> bool {
        self.val_action_objects
            .get(affordance)
            .is_some_and(|s| s.contains(object))
    }

    /// The scene type (`Kitchen`, `LivingRoom`, `Bedroom`, `Bathroom`) of a scene number.
    pub fn scene_type_of(&self, number: u32) -> Option<&str> {
        self.scene_type
            .iter()
            .find(|(_, [lo, hi])| (*lo..=*hi).contains(&number))
            .map(|(k, _)| k.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_parses_with_all_scenes_and_task_types() {
        let c = Catalog::get().unwrap();
        assert_eq!(c.scenes.len(), 120);
        assert_eq!(c.task_types.len(), 6);
        assert_eq!(c.train_scene_numbers.len(), 96);
        assert_eq!(c.test_scene_numbers.len(), 24);
        assert!(c.can_contain("Fridge", "Apple"));
        assert!(!c.can_contain("Toaster", "Apple"));
        assert!(c.has_affordance("Heatable", "Potato"));
        assert_eq!(c.scene_type_of(305), Some("Bedroom"));
        assert!(DOMAIN.contains("(:action HeatObject"));
        assert!(GRAMMAR.contains("UNKNOWN GOAL"));
    }
}
