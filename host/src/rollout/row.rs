//! What a rollout records: one [`Row`] per LLM call, one [`TrialResult`] per trial.

use lamer_sdk::Task;
use serde::{Deserialize, Serialize};

/// Which kind of LLM call a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// A play turn: the response carries an action for the environment.
    Play,
    /// A reflection after a failed attempt.
    Reflect,
}

/// One LLM call, with everything the trainer needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The task group (all trials of one task share it; GiGPO's `uid`).
    pub group: usize,
    pub task: Task,
    /// The trial's index inside its group.
    pub trial: usize,
    /// The trial's index in the whole rollout (`traj_uid`).
    pub trial_uid: usize,
    /// 0-based attempt; a reflection carries the attempt it precedes.
    pub attempt: u32,
    /// 0-based turn within the attempt (0 for reflections).
    pub turn: u32,
    pub phase: Phase,
    /// The sampling seed of this call.
    pub seed: u64,
    /// The rendered user message.
    pub prompt: String,
    /// The prompt's token ids as the model saw them (empty for scripted policies).
    pub prompt_ids: Vec<u32>,
    pub response: String,
    /// The generated token ids, ending with the stop token when the model
    /// stopped by itself (empty for scripted policies).
    pub response_ids: Vec<u32>,
    /// The sampling log-probability of each token of `response_ids`.
    pub logprobs: Vec<f32>,
    /// Play: the text sent to the environment. Reflect: the parsed reflection.
    pub parsed: String,
    /// The environment's reward for this turn (0 for reflections).
    pub reward: f64,
    /// The raw observation the prompt was built on (GiGPO's anchor state);
    /// [`crate::agent::REFLECTION_ANCHOR`] for reflections.
    pub anchor: String,
    /// The response had its tags and (for play) the environment accepted the action.
    pub valid: bool,
    /// The response had its tags (`<action>` or `<remark>`).
    pub tagged: bool,
    /// The episode was won by this turn.
    pub won: bool,
    /// The episode ended with this turn.
    pub done: bool,
}

impl Row {
    /// The response length: tokens when the policy produced them, else characters.
    pub fn response_length(&self) -> usize {
        if self.response_ids.is_empty() {
            self.response.chars().count()
        } else {
            self.response_ids.len()
        }
    }
}

/// One turn of an attempt as the trial's log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The model's whole answer, as it came back.
    #[serde(default)]
    pub response: String,
    /// The prompt the answer was given to (kept only when the rollout is
    /// asked to record prompts: they are long).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The text sent to the environment (the parsed action).
    pub action: String,
    /// The action as the environment echoed it.
    pub echo: String,
    pub observation: String,
    pub reward: f64,
    pub valid: bool,
    /// Response length (tokens, or characters for scripted policies).
    pub response_length: usize,
}

/// One attempt of a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptOutcome {
    /// 0-based.
    pub attempt: u32,
    /// The reflection written before this attempt, if one was asked for.
    pub reflection: Option<String>,
    pub steps: Vec<StepRecord>,
    pub won: bool,
    /// Undiscounted sum of the environment's rewards.
    pub total_reward: f64,
    /// The attempt ran to its end (won, lost or truncated); false when an
    /// error interrupted it.
    pub finished: bool,
}

/// Why a trial stopped early.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialFailure {
    /// The session call that failed (`open`, `reset`, `step`, …), or
    /// [`TrialFailure::POLICY_CALL`] when the policy backend did.
    pub call: String,
    pub attempt: u32,
    pub turn: u32,
    pub message: String,
}

impl TrialFailure {
    /// The `call` of a trial whose policy request finally failed in the
    /// backend (after its retries): not a wrong answer, and not the
    /// environment's fault.
    pub const POLICY_CALL: &'static str = "policy";

    /// A failure of the policy backend at this attempt and turn.
    pub fn backend(attempt: u32, turn: u32, message: String) -> Self {
        TrialFailure {
            call: Self::POLICY_CALL.to_string(),
            attempt,
            turn,
            message,
        }
    }

    /// Whether the policy backend, not the environment, failed this trial.
    pub fn is_backend(&self) -> bool {
        self.call == Self::POLICY_CALL
    }
}

/// Everything one trial did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    pub group: usize,
    pub task: Task,
    pub trial: usize,
    pub trial_uid: usize,
    /// The observation after reset.
    pub initial_observation: String,
    /// The attempts played, in order.
    pub attempts: Vec<AttemptOutcome>,
    /// Set when an environment error (or a failure of the policy backend)
    /// ended the trial.
    pub failure: Option<TrialFailure>,
}

/// The first failed trial's failure, as one line for people
/// (`task test/3: step failed: …`).
pub fn first_failure(trials: &[TrialResult]) -> Option<String> {
    trials.iter().find_map(|t| {
        t.failure
            .as_ref()
            .map(|f| format!("task {}: {} failed: {}", t.task, f.call, f.message))
    })
}

impl TrialResult {
    /// The 0-based attempt that won, if any.
    pub fn solved_at(&self) -> Option<u32> {
        self.attempts.iter().find(|a| a.won).map(|a| a.attempt)
    }

    /// The action sequence of the first attempt (echoed spelling).
    pub fn first_attempt_actions(&self) -> Vec<String> {
        self.attempts
            .first()
            .map(|a| a.steps.iter().map(|s| s.echo.clone()).collect())
            .unwrap_or_default()
    }
}
