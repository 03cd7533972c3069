//! # Checkpoints: everything a run needs to continue exactly
//!
//! A checkpoint is a directory `checkpoints/step-NNNNNN/` holding
//!
//! - `policy/`: the trainable weights (a full `model.safetensors` or a PEFT
//!   adapter), written by the policy crate's `TrainableParams::save`;
//! - `optimizer.safetensors`: AdamW's moments and step count;
//! - `state.json`: the step, the run seed and the algorithm ([`TrainState`]);
//! - `recipe.toml`: the effective recipe.
//!
//! Every random draw of a run is a pure function of the run seed and the step
//! (tasks, rollout sampling), so the seed and the step *are* the RNG state:
//! restoring them with the weights and the optimiser makes a resumed run
//! bitwise-equal to an uninterrupted one.
//!
//! Writes are atomic: the directory is filled under a temporary name and then
//! renamed, and the `latest` pointer file is replaced by rename too, so a
//! crash (or Ctrl-C) never leaves a half-written checkpoint behind.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::recipe::{Algo, Scale};

/// The file naming the newest complete checkpoint of a run directory.
pub const LATEST_FILE: &str = "latest";
/// The state file inside a checkpoint.
pub const STATE_FILE: &str = "state.json";
/// The recipe inside a checkpoint.
pub const RECIPE_FILE: &str = "recipe.toml";
/// The optimiser state inside a checkpoint.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The weights directory inside a checkpoint.
pub const POLICY_DIR: &str = "policy";

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("checkpoint {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("checkpoint: saving the {what} failed: {message}")]
    Save { what: &'static str, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The scalar state of a run at a step boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Steps completed.
    pub step: usize,
    /// The run seed every draw derives from.
    pub seed: u64,
    pub algo: Algo,
    pub scale: Scale,
    /// The `--model` the run started from (`None`: the built-in tiny model).
    pub model: Option<String>,
    /// The number of optimiser updates applied.
    pub optimizer_steps: u64,
}

/// The directory name of the checkpoint after `step` steps.
pub fn checkpoint_name(step: usize) -> String {
    format!("step-{step:06}")
}

/// Writes a checkpoint into `root/step-NNNNNN` atomically. `write_payload`
/// fills the (temporary) directory with the weights and optimiser files.
pub fn save_checkpoint(
    root: &Path,
    state: &TrainState,
    recipe_toml: &str,
    write_payload: impl FnOnce(&Path) -> Result<(), CheckpointError>,
) -> Result<PathBuf, CheckpointError> {
    std::fs::create_dir_all(root).map_err(io(root))?;
    let name = checkpoint_name(state.step);
    let final_dir = root.join(&name);
    let tmp_dir = root.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp_dir.exists() {
        std::fs::remove_dir_all(&tmp_dir).map_err(io(&tmp_dir))?;
    }
    std::fs::create_dir_all(&tmp_dir).map_err(io(&tmp_dir))?;
    write_payload(&tmp_dir)?;
    let state_json = serde_json::to_string_pretty(state).map_err(|e| CheckpointError::Save {
        what: "state",
        message: e.to_string(),
    })?;
    let state_path = tmp_dir.join(STATE_FILE);
    std::fs::write(&state_path, state_json).map_err(io(&state_path))?;
    let recipe_path = tmp_dir.join(RECIPE_FILE);
    std::fs::write(&recipe_path, recipe_toml).map_err(io(&recipe_path))?;
    if final_dir.exists() {
        // A checkpoint of the same step from an earlier (interrupted) run.
        std::fs::remove_dir_all(&final_dir).map_err(io(&final_dir))?;
    }
    std::fs::rename(&tmp_dir, &final_dir).map_err(io(&final_dir))?;
    let latest_tmp = root.join(format!(".{LATEST_FILE}.tmp-{}", std::process::id()));
    std::fs::write(&latest_tmp, &name).map_err(io(&latest_tmp))?;
    std::fs::rename(&latest_tmp, root.join(LATEST_FILE)).map_err(io(root))?;
    Ok(final_dir)
}

impl LoadedCheckpoint {
    /// The run directory the checkpoint belongs to (`<run>/checkpoints/
    /// step-NNNNNN`); `None` for a checkpoint directory outside a run.
    pub fn run_dir(&self) -> Option<PathBuf> {
        let parent = self.dir.parent()?;
        (parent.file_name()? == "checkpoints").then(|| parent.parent().map(Path::to_path_buf))?
    }
}

/// Removes what an interrupted [`save_checkpoint`] left in `root`: its
/// temporary directories and pointer files (`.step-NNNNNN.tmp-PID`,
/// `.latest.tmp-PID`). Returns how many it removed.
pub fn remove_stale_temporaries(root: &Path) -> Result<usize, CheckpointError> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(io(root))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with('.') && name.contains(".tmp-")) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).map_err(io(&path))?;
        } else {
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
        removed += 1;
    }
    Ok(removed)
}

/// A checkpoint found on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedCheckpoint {
    pub dir: PathBuf,
    pub state: TrainState,
    pub recipe_toml: String,
}

impl LoadedCheckpoint {
    pub fn policy_dir(&self) -> PathBuf {
        self.dir.join(POLICY_DIR)
    }
    pub fn optimizer_file(&self) -> PathBuf {
        self.dir.join(OPTIMIZER_FILE)
    }
}

/// Opens a checkpoint given either its own directory or a run's checkpoint
/// root (then the one `latest` names).
pub fn load_checkpoint(path: &Path) -> Result<LoadedCheckpoint, CheckpointError> {
    let dir = if path.join(STATE_FILE).is_file() {
        path.to_path_buf()
    } else {
        let latest = [
            path.join(LATEST_FILE),
            path.join("checkpoints").join(LATEST_FILE),
        ]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| CheckpointError::Invalid {
            path: path.to_path_buf(),
            message: "neither a checkpoint (no state.json) nor a run or checkpoint \
                          directory with a `latest` file; pass a step-NNNNNN directory"
                .into(),
        })?;
        let name = std::fs::read_to_string(&latest).map_err(io(&latest))?;
        latest
            .parent()
            .map(|p| p.join(name.trim()))
            .unwrap_or_else(|| PathBuf::from(name.trim()))
    };
    let state_path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&state_path).map_err(io(&state_path))?;
    let state: TrainState = serde_json::from_str(&text).map_err(|e| CheckpointError::Invalid {
        path: state_path.clone(),
        message: e.to_string(),
    })?;
    let recipe_path = dir.join(RECIPE_FILE);
    let recipe_toml = std::fs::read_to_string(&recipe_path).map_err(io(&recipe_path))?;
    Ok(LoadedCheckpoint {
        dir,
        state,
        recipe_toml,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(step: usize) -> TrainState {
        TrainState {
            step,
            seed: 7,
            algo: Algo::Lamer,
            scale: Scale::Tiny,
            model: None,
            optimizer_steps: 3,
        }
    }

    #[test]
    fn stale_temporaries_are_removed_and_checkpoints_kept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("checkpoints");
        save_checkpoint(&root, &state(2), "", |_| Ok(())).unwrap();
        // What a write interrupted by a crash leaves behind.
        std::fs::create_dir_all(root.join(".step-000004.tmp-123/policy")).unwrap();
        std::fs::write(root.join(".latest.tmp-123"), "step-000004").unwrap();
        assert_eq!(remove_stale_temporaries(&root).unwrap(), 2);
        let mut left: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["latest", "step-000002"]);
        let loaded = load_checkpoint(dir.path()).unwrap();
        assert_eq!(loaded.run_dir().as_deref(), Some(dir.path()));
        assert_eq!(
            remove_stale_temporaries(&dir.path().join("none")).unwrap(),
            0
        );
    }

    #[test]
    fn save_then_load_through_latest() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("checkpoints");
        for step in [2, 4] {
            save_checkpoint(&root, &state(step), "x = 1\n", |d| {
                std::fs::write(d.join(OPTIMIZER_FILE), format!("opt {step}")).map_err(io(d))
            })
            .unwrap();
        }
        let loaded = load_checkpoint(&root).unwrap();
        assert_eq!(loaded.state, state(4));
        assert_eq!(loaded.recipe_toml, "x = 1\n");
        assert_eq!(
            std::fs::read_to_string(loaded.optimizer_file()).unwrap(),
            "opt 4"
        );
        // The run directory (parent of checkpoints/) works too, and so does a step dir.
        assert_eq!(load_checkpoint(dir.path()).unwrap().state.step, 4);
        let two = load_checkpoint(&root.join(checkpoint_name(2))).unwrap();
        assert_eq!(two.state.step, 2);
        // No temporary directories are left behind.
        let names: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains("tmp")), "{names:?}");
    }

    #[test]
    fn a_failed_payload_leaves_the_previous_checkpoint_latest() {
        let dir = tempfile::tempdir().unwrap();
        save_checkpoint(dir.path(), &state(1), "", |_| Ok(())).unwrap();
        let err = save_checkpoint(dir.path(), &state(2), "", |_| {
            Err(CheckpointError::Save {
                what: "weights",
                message: "disk full".into(),
            })
        })
        .unwrap_err();
        assert!(err.to_string().contains("disk full"));
        assert_eq!(load_checkpoint(dir.path()).unwrap().state.step, 1);
        assert!(!dir.path().join(checkpoint_name(2)).exists());
    }

    #[test]
    fn missing_checkpoint_says_what_to_pass() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_checkpoint(dir.path()).unwrap_err().to_string();
        assert!(err.contains("step-NNNNNN"), "{err}");
    }
}
