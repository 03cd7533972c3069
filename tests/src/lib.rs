//! # lamer-tests: the plugins, compiled, for cross-crate tests
//!
//! The build script compiles every plugin crate of the workspace (the keydoor
//! example, everything under `plugins/`, and the hostile fixtures under
//! `tests/plugins/`) to `wasm32-wasip2` components, and this library tells the
//! tests where they are: [`plugin_path`]`("keydoor")`. It also records
//! transcripts through the object-safe [`EnvFactory`] interface, so the same
//! code records a sandboxed plugin and a native environment.

use std::path::PathBuf;

use lamer_plugin::{EnvFactory, SessionError};
use lamer_sdk::{Task, Transcript, TranscriptStep};

// `PLUGINS: &[(&str, &str)]`: artifact name → absolute path of the `.wasm`.
include!(concat!(env!("OUT_DIR"), "/plugins.rs"));

/// The names of all compiled plugins (e.g. `keydoor`, `hostile`).
pub fn plugin_names() -> Vec<&'static str> {
    PLUGINS.iter().map(|(name, _)| *name).collect()
}

/// The compiled component of a plugin, by its artifact name: the `[lib] name`
/// of a cdylib plugin (`keydoor`) or the binary name of a command.
///
/// # Panics
/// When no plugin of that name was built; the message lists the ones that were.
pub fn plugin_path(name: &str) -> PathBuf {
    match PLUGINS.iter().find(|(n, _)| *n == name) {
        Some((_, path)) => PathBuf::from(path),
        None => panic!(
            "no plugin `{name}` was built; built: {}",
            plugin_names().join(", ")
        ),
    }
}

/// Plays `actions` from `task` in a fresh session of `factory`, stopping when
/// the episode ends — the same episode [`Transcript::record`] plays natively.
pub fn record_transcript(
    factory: &dyn EnvFactory,
    config_json: &str,
    task: &Task,
    actions: &[&str],
) -> Result<Transcript, SessionError> {
    let mut session = factory.open(config_json)?;
    let reset = session.reset(task)?;
    let mut steps = Vec::new();
    for action in actions {
        let result = session.step(action)?;
        let done = result.done();
        steps.push(TranscriptStep {
            action: action.to_string(),
            result,
        });
        if done {
            break;
        }
    }
    Ok(Transcript {
        env: factory.info().name.clone(),
        task: task.clone(),
        reset,
        steps,
    })
}

/// Plays the environment's expert from `task` until the episode ends.
pub fn record_expert_transcript(
    factory: &dyn EnvFactory,
    config_json: &str,
    task: &Task,
) -> Result<Transcript, SessionError> {
    let mut session = factory.open(config_json)?;
    let reset = session.reset(task)?;
    let mut steps = Vec::new();
    while let Some(action) = session.expert_action()? {
        let result = session.step(&action)?;
        steps.push(TranscriptStep { action, result });
    }
    Ok(Transcript {
        env: factory.info().name.clone(),
        task: task.clone(),
        reset,
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keydoor_and_hostile_plugins_are_built() {
        for name in ["keydoor", "hostile", "other-world", "future_contract"] {
            let path = plugin_path(name);
            assert!(path.is_file(), "{} is missing", path.display());
        }
    }

    #[test]
    #[should_panic(expected = "no plugin `nope`")]
    fn unknown_plugins_are_named_in_the_panic() {
        plugin_path("nope");
    }
}
