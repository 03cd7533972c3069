//! Plain Rust mirrors of the WIT records. Both sides use them: the guest SDK
//! converts them to the generated bindings, and the host converts the bindings
//! back, so the native harness and the sandboxed plugin speak the same types.

use serde::{Deserialize, Serialize};

/// A task: a split name and an index into it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Task {
    pub split: String,
    pub index: u64,
}

impl Task {
    pub fn new(split: impl Into<String>, index: u64) -> Self {
        Task {
            split: split.into(),
            index,
        }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.split, self.index)
    }
}

/// One named part of the task set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitInfo {
    pub name: String,
    pub description: String,
    /// Tasks are indexed `0..task_count`.
    pub task_count: u64,
    /// Generated from a seed rather than read from data.
    pub procedural: bool,
}

impl SplitInfo {
    /// A split whose tasks are generated from seeds.
    pub fn procedural(name: &str, description: &str, task_count: u64) -> Self {
        SplitInfo {
            name: name.into(),
            description: description.into(),
            task_count,
            procedural: true,
        }
    }

    /// A split of a fixed, data-backed task list.
    pub fn fixed(name: &str, description: &str, task_count: u64) -> Self {
        SplitInfo {
            procedural: false,
            ..Self::procedural(name, description, task_count)
        }
    }
}

/// Static facts about an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    pub default_max_turns: u32,
    pub splits: Vec<SplitInfo>,
    /// The default config as JSON. Authors leave it empty: [`crate::full_info`]
    /// fills it from the config type's `Default`.
    pub default_config: String,
}

impl EnvInfo {
    pub fn new(name: &str, version: &str, description: &str, default_max_turns: u32) -> Self {
        EnvInfo {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            default_max_turns,
            splits: Vec::new(),
            default_config: String::new(),
        }
    }

    pub fn with_split(mut self, split: SplitInfo) -> Self {
        self.splits.push(split);
        self
    }

    /// The split with this name.
    pub fn split(&self, name: &str) -> Option<&SplitInfo> {
        self.splits.iter().find(|s| s.name == name)
    }
}

/// A key/value fact attached to a reset or a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoPair {
    pub key: String,
    pub value: String,
}

/// The initial observation of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResetResult {
    pub observation: String,
    pub info: Vec<InfoPair>,
}

impl ResetResult {
    pub fn new(observation: impl Into<String>) -> Self {
        ResetResult {
            observation: observation.into(),
            info: Vec::new(),
        }
    }

    pub fn info(mut self, key: &str, value: impl ToString) -> Self {
        self.info.push(InfoPair {
            key: key.into(),
            value: value.to_string(),
        });
        self
    }
}

/// What an author's `step` returns. The SDK turns it into a [`StepResult`],
/// adding truncation when the turn limit runs out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub observation: String,
    pub reward: f64,
    pub terminated: bool,
    /// Set by an environment with an internal step cap of its own; the SDK
    /// also sets it when the configured turn limit runs out.
    pub truncated: bool,
    pub won: bool,
    pub action_valid: bool,
    pub action_echo: String,
    pub info: Vec<InfoPair>,
}

impl Step {
    /// A valid, non-terminal step with zero reward; adjust with the builders.
    pub fn new(observation: impl Into<String>) -> Self {
        Step {
            observation: observation.into(),
            reward: 0.0,
            terminated: false,
            truncated: false,
            won: false,
            action_valid: true,
            action_echo: String::new(),
            info: Vec::new(),
        }
    }
    pub fn reward(mut self, reward: f64) -> Self {
        self.reward = reward;
        self
    }
    pub fn terminated(mut self, terminated: bool) -> Self {
        self.terminated = terminated;
        self
    }
    pub fn truncated(mut self, truncated: bool) -> Self {
        self.truncated = truncated;
        self
    }
    pub fn won(mut self, won: bool) -> Self {
        self.won = won;
        self
    }
    pub fn valid(mut self, valid: bool) -> Self {
        self.action_valid = valid;
        self
    }
    pub fn echo(mut self, echo: impl Into<String>) -> Self {
        self.action_echo = echo.into();
        self
    }
    pub fn info(mut self, key: &str, value: impl ToString) -> Self {
        self.info.push(InfoPair {
            key: key.into(),
            value: value.to_string(),
        });
        self
    }
}

/// The outcome of one turn as the host sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    pub observation: String,
    pub reward: f64,
    pub terminated: bool,
    pub truncated: bool,
    pub won: bool,
    pub action_valid: bool,
    pub action_echo: String,
    pub info: Vec<InfoPair>,
}

impl StepResult {
    /// True once the episode is over, by the rules or by the turn limit.
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }

    /// The value of an info key, if present.
    pub fn info_value(&self, key: &str) -> Option<&str> {
        self.info
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
    }
}

/// How much history the agent sees; see the WIT `history-window`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryWindow {
    pub play_turns: u32,
    pub play_full_observations: u32,
    pub reflect_turns: u32,
    pub reflect_full_observations: u32,
}

impl Default for HistoryWindow {
    /// LaMer's window for the grid games: 7 turns, the newest 2 observations
    /// in full while playing, all 7 while reflecting.
    fn default() -> Self {
        HistoryWindow {
            play_turns: 7,
            play_full_observations: 2,
            reflect_turns: 7,
            reflect_full_observations: 7,
        }
    }
}

/// The environment-specific parts of the agent's prompts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptPieces {
    pub role: String,
    pub rules: String,
    pub initial_state_label: String,
    pub action_instruction: String,
    pub reflect_instruction: String,
    pub list_admissible_actions: bool,
    pub history: HistoryWindow,
}

impl PromptPieces {
    /// Pieces with a role and rules; the rest take generic defaults that the
    /// builders below override.
    pub fn new(role: impl Into<String>, rules: impl Into<String>) -> Self {
        PromptPieces {
            role: role.into(),
            rules: rules.into(),
            initial_state_label: "The initial state of the environment is:".into(),
            action_instruction: "Now it's your turn to act. First reason step by step, then give \
                                 your action inside <action> </action> tags."
                .into(),
            reflect_instruction: "Reason step by step about what went wrong in that attempt and \
                                  devise a concise, improved plan that starts from the same \
                                  initial state and refers to specific actions."
                .into(),
            list_admissible_actions: false,
            history: HistoryWindow::default(),
        }
    }
    pub fn initial_state_label(mut self, label: impl Into<String>) -> Self {
        self.initial_state_label = label.into();
        self
    }
    pub fn action_instruction(mut self, text: impl Into<String>) -> Self {
        self.action_instruction = text.into();
        self
    }
    pub fn reflect_instruction(mut self, text: impl Into<String>) -> Self {
        self.reflect_instruction = text.into();
        self
    }
    pub fn list_admissible_actions(mut self, list: bool) -> Self {
        self.list_admissible_actions = list;
        self
    }
    pub fn history(mut self, history: HistoryWindow) -> Self {
        self.history = history;
        self
    }
}
