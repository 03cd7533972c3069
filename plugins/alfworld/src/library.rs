//! The official ALFWorld games from a granted data directory.
//!
//! ALFWorld's `alfworld-download` unpacks `json_2.1.1/{train,valid_seen,valid_unseen}/
//! <task_type>-<Obj>-<MRecep>-<Recep>-<scene>/<trial>/game.tw-pddl`. A split lists the game
//! files of its task types sorted by path, skipping what ALFWorld's own collection skips
//! (`movable` and `Sliced` folders, other task types, folders without a game file). Unlike
//! ALFWorld the listing does not open every file to check `solvable` — that would read
//! hundreds of megabytes per session; an unsolvable game is reported when it is reset.

use std::path::{Path, PathBuf};

use lamer_sdk::EnvError;

use crate::game::{Game, GameFile, TaskType};
use crate::generator::Split;

/// The game files of each split.
#[derive(Debug, Clone, PartialEq)]
pub struct GameLibrary {
    train: Vec<(PathBuf, TaskType)>,
    test: Vec<(PathBuf, TaskType)>,
    ood: Vec<(PathBuf, TaskType)>,
}

fn list(folder: &Path, types: &[TaskType]) -> Result<Vec<(PathBuf, TaskType)>, EnvError> {
    let unavailable = |e: std::io::Error| {
        EnvError::DataUnavailable(format!(
            "cannot read {}: {e}. Download the official games with ALFWorld's \
             `alfworld-download` and grant the folder holding json_2.1.1 with \
             `lamer-host … --data-dir DIR`, or use \"games\": \"generated\"",
            folder.display()
        ))
    };
    let mut out = Vec::new();
    for task_dir in std::fs::read_dir(folder).map_err(unavailable)? {
        let task_dir = task_dir.map_err(unavailable)?.path();
        let name = task_dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.contains("movable") || name.contains("Sliced") {
            continue;
        }
        let Some(task_type) = TaskType::from_name(name).filter(|t| types.contains(t)) else {
            continue;
        };
        let Ok(trials) = std::fs::read_dir(&task_dir) else {
            continue;
        };
        for trial in trials.flatten() {
            let file = trial.path().join("game.tw-pddl");
            if file.is_file() {
                out.push((file, task_type));
            }
        }
    }
    out.sort();
    Ok(out)
}

impl GameLibrary {
    /// Lists the games under `root` (e.g. `/data/json_2.1.1`).
    pub fn scan(root: &str, valid_folder: &str) -> Result<GameLibrary, EnvError> {
        let root = Path::new(root);
        let valid = root.join(valid_folder);
        let library = GameLibrary {
            train: list(&root.join("train"), Split::Train.task_types())?,
            test: list(&valid, Split::Test.task_types())?,
            ood: list(&valid, Split::Ood.task_types())?,
        };
        if library.train.is_empty() && library.test.is_empty() && library.ood.is_empty() {
            return Err(EnvError::DataUnavailable(format!(
                "no game.tw-pddl files under {}/{{train,{valid_folder}}}/<task>/<trial>/",
                root.display()
            )));
        }
        Ok(library)
    }

    /// The games of a split, sorted by path.
    pub fn games(&self, split: Split) -> &[(PathBuf, TaskType)] {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
            Split::Ood => &self.ood,
        }
    }

    /// Loads the `index`-th game of a split.
    pub fn load(
        &self,
        split: Split,
        index: u64,
    ) -> Result<(Game, String, Option<TaskType>), EnvError> {
        let games = self.games(split);
        let (path, task_type) = usize::try_from(index)
            .ok()
            .and_then(|i| games.get(i))
            .ok_or_else(|| {
                EnvError::TaskOutOfRange(format!(
                    "index {index}: the data directory has {} games in this split",
                    games.len()
                ))
            })?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            EnvError::DataUnavailable(format!("cannot read {}: {e}", path.display()))
        })?;
        let file: GameFile = serde_json::from_str(&text).map_err(|e| {
            EnvError::DataUnavailable(format!(
                "{} is not a game.tw-pddl file: {e}",
                path.display()
            ))
        })?;
        if !file.solvable {
            return Err(EnvError::DataUnavailable(format!(
                "{} is marked unsolvable (ALFWorld skips such games)",
                path.display()
            )));
        }
        let game = Game::from_parts(&file.pddl_problem, &file.grammar).map_err(|e| {
            EnvError::DataUnavailable(format!("{} cannot be played: {e}", path.display()))
        })?;
        Ok((game, path.display().to_string(), Some(*task_type)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_directory_is_data_unavailable() {
        let err = GameLibrary::scan("/nonexistent/json_2.1.1", "valid_unseen").unwrap_err();
        assert!(matches!(err, EnvError::DataUnavailable(m) if m.contains("alfworld-download")));
    }

    #[test]
    fn lists_official_layout_sorted_and_filtered() {
        let dir = std::env::temp_dir().join(format!("alfworld-lib-{}", std::process::id()));
        let game = crate::generator::game_json(Split::Train, 0).unwrap();
        for (split, task) in [
            (
                "train",
                "pick_heat_then_place_in_recep-Apple-None-CounterTop-10",
            ),
            ("train", "pick_and_place_simple-Book-None-Desk-301"),
            (
                "train",
                "pick_and_place_with_movable_recep-Apple-Bowl-Fridge-5",
            ),
            (
                "train",
                "pick_cool_then_place_in_recep-Apple-None-CounterTop-10",
            ),
            ("valid_unseen", "pick_two_obj_and_place-Apple-None-Fridge-2"),
        ] {
            let trial = dir
                .join("json_2.1.1")
                .join(split)
                .join(task)
                .join("trial_T1");
            std::fs::create_dir_all(&trial).unwrap();
            std::fs::write(trial.join("game.tw-pddl"), &game).unwrap();
        }
        let lib =
            GameLibrary::scan(dir.join("json_2.1.1").to_str().unwrap(), "valid_unseen").unwrap();
        let names: Vec<TaskType> = lib.games(Split::Train).iter().map(|(_, t)| *t).collect();
        assert_eq!(names, vec![TaskType::PickAndPlace, TaskType::Heat]);
        assert!(lib.games(Split::Test).is_empty());
        assert_eq!(lib.games(Split::Ood).len(), 1);
        let (loaded, path, _) = lib.load(Split::Ood, 0).unwrap();
        assert!(path.ends_with("game.tw-pddl"));
        assert!(!loaded.task.is_empty());
        assert!(matches!(
            lib.load(Split::Ood, 1),
            Err(EnvError::TaskOutOfRange(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
