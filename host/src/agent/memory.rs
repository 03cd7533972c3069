//! Memory across attempts.
//!
//! After a failed attempt the agent restarts from the identical initial state,
//! so whatever it learned must travel in the prompt. LaMer's released scripts
//! carry only the agent's own reflection (`reflection-only`, the best row of
//! the paper's memory ablation); the paper also studies carrying the raw
//! action/observation log (`history-only`) and both together.

use serde::{Deserialize, Serialize};

/// What the prompt of a later attempt carries about earlier failed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum MemoryMode {
    /// Each failed attempt appears as the reflection written after it.
    #[default]
    ReflectionOnly,
    /// Each failed attempt appears as its action/observation log.
    HistoryOnly,
    /// The log followed by the reflection.
    HistoryAndReflection,
}

impl MemoryMode {
    /// Whether past attempts show their action/observation log.
    pub fn shows_history(self) -> bool {
        matches!(
            self,
            MemoryMode::HistoryOnly | MemoryMode::HistoryAndReflection
        )
    }

    /// Whether past attempts show their reflection.
    pub fn shows_reflection(self) -> bool {
        matches!(
            self,
            MemoryMode::ReflectionOnly | MemoryMode::HistoryAndReflection
        )
    }

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryMode::ReflectionOnly => "reflection-only",
            MemoryMode::HistoryOnly => "history-only",
            MemoryMode::HistoryAndReflection => "history-and-reflection",
        }
    }
}

/// One turn of an attempt as the history shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryTurn {
    /// The action as the environment echoes it (its canonical spelling).
    pub action: String,
    /// The raw observation after the action.
    pub observation: String,
    /// The environment ended the episode with this turn (a win, a loss, a
    /// deadlock; not the turn limit). The official carried-over history of
    /// the RL baselines' evaluation stops at such a turn.
    #[serde(default)]
    pub terminated: bool,
}

impl HistoryTurn {
    pub fn new(action: impl Into<String>, observation: impl Into<String>) -> Self {
        HistoryTurn {
            action: action.into(),
            observation: observation.into(),
            terminated: false,
        }
    }

    /// Marks the turn as the one the environment ended the episode with.
    pub fn ending(mut self, terminated: bool) -> Self {
        self.terminated = terminated;
        self
    }
}

/// A finished, failed attempt, as later prompts remember it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PastAttempt {
    /// Every turn of the attempt, oldest first.
    pub turns: Vec<HistoryTurn>,
    /// The reflection written after the attempt (empty when the model gave
    /// none; `None` when no reflection was asked for).
    pub reflection: Option<String>,
}
