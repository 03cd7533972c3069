//! The error an environment reports. It mirrors the WIT `env-error` variant one
//! to one, so it crosses the sandbox boundary as a value, never as a trap.

use serde::{Deserialize, Serialize};

/// Why an environment call failed. Each message says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum EnvError {
    /// The config JSON is malformed or holds a bad value.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// `reset` named a split that does not exist.
    #[error("unknown split: {0}")]
    UnknownSplit(String),
    /// `reset` named an index past the split's task count.
    #[error("task out of range: {0}")]
    TaskOutOfRange(String),
    /// A call that needs a task came before the first `reset`.
    #[error("the session has no task yet: call reset first")]
    NotReset,
    /// `step` after the episode ended.
    #[error("the episode is over: call restart or reset before stepping again")]
    EpisodeOver,
    /// Data the environment needs is missing or malformed.
    #[error("data unavailable: {0}")]
    DataUnavailable(String),
    /// A bug in the environment.
    #[error("internal environment error: {0}")]
    Internal(String),
}
