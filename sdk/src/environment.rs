//! The trait an environment author implements.

use serde::{Serialize, de::DeserializeOwned};

use crate::{EnvError, EnvInfo, PromptPieces, ResetResult, Step, Task};

/// A text environment for LLM agents.
///
/// Implement this and call [`crate::export_env!`] once; the SDK provides the
/// WIT wiring and the session semantics:
///
/// - the config JSON is merged onto `Config::default()` (missing keys take
///   defaults, unknown keys are an `invalid-config` error);
/// - `reset` is only called with a split from [`Environment::info`] and an
///   index inside it;
/// - `restart` restores a clone of the environment taken right after `reset`,
///   so it is identical by construction (keep large read-only data behind an
///   `Rc`/`Arc` so the clone is cheap);
/// - the SDK counts turns and reports `truncated` at [`Environment::max_turns`];
/// - `step` after the episode ended is an `episode-over` error.
///
/// Every random draw must derive from the task (use [`crate::SeededRng`]), so
/// the same task gives the same transcript natively and in wasm.
pub trait Environment: Clone + 'static {
    /// The session config. `Serialize` gives the advertised defaults.
    type Config: Serialize + DeserializeOwned + Default;

    /// Name, version, description, default turn limit and splits. Leave
    /// `default_config` empty: the SDK fills it.
    fn info() -> EnvInfo;

    /// Builds a session from a config (already merged with the defaults).
    fn open(config: Self::Config) -> Result<Self, EnvError>;

    /// Agent turns per attempt for this session's config.
    fn max_turns(&self) -> u32;

    /// Starts a task. Must be a pure function of the config and the task.
    fn reset(&mut self, task: &Task) -> Result<ResetResult, EnvError>;

    /// Applies one action. Garbage must be an invalid action, not an error.
    fn step(&mut self, action: &str) -> Result<Step, EnvError>;

    /// The meaningful actions now, in the exact text `step` accepts.
    fn admissible_actions(&self) -> Vec<String>;

    /// An oracle's next action, where the environment has one.
    fn expert_action(&self) -> Option<String> {
        None
    }

    /// The prompt pieces for this session's config.
    fn prompt(&self) -> PromptPieces;

    /// How an older observation appears in the history when only the newest
    /// ones are shown in full. LaMer's grid games show `...`.
    fn brief_observation(_observation: &str) -> String {
        "...".to_string()
    }
}
