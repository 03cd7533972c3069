//! The evaluation report: what is measured, and how it is shown and saved.

use serde::{Deserialize, Serialize};

use lamer_policy::SamplingParams;

/// Diversity of first attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiversityReport {
    /// Samples (first attempts) per task.
    pub samples: usize,
    /// Mean over tasks of the entropy (nats) of the action-sequence distribution.
    pub mean_entropy_nats: f64,
    /// Mean over tasks of the number of distinct action sequences.
    pub mean_distinct: f64,
}

/// Everything an evaluation measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub env: String,
    pub env_version: String,
    pub policy: String,
    pub mode: String,
    pub memory: String,
    pub split: String,
    pub first_task: u64,
    pub tasks: usize,
    pub attempts: u32,
    pub seed: u64,
    pub sampling: SamplingParams,
    /// pass@k for k = 1..=attempts.
    pub pass_at_k: Vec<f64>,
    /// How many tasks were first solved at each attempt.
    pub solved_at_attempt: Vec<usize>,
    /// Mean undiscounted return of the episodes played at each attempt
    /// (only trials that reached the attempt count).
    pub mean_return_per_attempt: Vec<f64>,
    /// Episodes played at each attempt.
    pub episodes_per_attempt: Vec<usize>,
    /// Mean undiscounted return over all episodes played.
    pub mean_episode_return: f64,
    /// Invalid play turns / play turns.
    pub invalid_action_ratio: f64,
    /// Mean response length over all LLM calls.
    pub mean_response_length: f64,
    /// `tokens`, or `chars` for scripted policies.
    pub response_length_unit: String,
    /// LLM calls made (play and reflect).
    pub llm_calls: usize,
    pub diversity: Option<DiversityReport>,
    /// Trials an environment error (or the policy backend) ended early.
    pub failed_trials: usize,
    /// Of `failed_trials`, those whose policy requests finally failed in the
    /// backend (after retries): not wrong answers, and `eval` exits non-zero.
    #[serde(default)]
    pub backend_failed_trials: usize,
    pub first_failure: Option<String>,
}

fn percent(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

impl EvalReport {
    /// A plain-text table for the terminal.
    pub fn table(&self) -> String {
        let mut lines = vec![
            format!(
                "{} {} · policy {} · mode {} · memory {} · split {} · tasks {} (from {}) · seed {}",
                self.env,
                self.env_version,
                self.policy,
                self.mode,
                self.memory,
                self.split,
                self.tasks,
                self.first_task,
                self.seed
            ),
            String::new(),
            format!(
                "{:<10} {:>9} {:>12} {:>10} {:>12}",
                "attempt", "pass@k", "first solved", "episodes", "mean return"
            ),
        ];
        for k in 0..self.pass_at_k.len() {
            lines.push(format!(
                "{:<10} {:>9} {:>12} {:>10} {:>12.3}",
                k + 1,
                percent(self.pass_at_k[k]),
                self.solved_at_attempt.get(k).copied().unwrap_or(0),
                self.episodes_per_attempt.get(k).copied().unwrap_or(0),
                self.mean_return_per_attempt.get(k).copied().unwrap_or(0.0),
            ));
        }
        lines.push(String::new());
        lines.push(format!(
            "mean episode return   {:.3}",
            self.mean_episode_return
        ));
        lines.push(format!(
            "invalid-action ratio  {}",
            percent(self.invalid_action_ratio)
        ));
        lines.push(format!(
            "mean response length  {:.1} {}",
            self.mean_response_length, self.response_length_unit
        ));
        lines.push(format!("LLM calls             {}", self.llm_calls));
        if let Some(d) = &self.diversity {
            lines.push(format!(
                "diversity             {:.3} nats, {:.2} distinct of {} first attempts per task",
                d.mean_entropy_nats, d.mean_distinct, d.samples
            ));
        }
        if self.failed_trials > 0 {
            lines.push(format!(
                "FAILED trials         {} (first: {})",
                self.failed_trials,
                self.first_failure.as_deref().unwrap_or("?")
            ));
        }
        if self.backend_failed_trials > 0 {
            lines.push(format!(
                "  of which by backend {} (the policy backend gave no answer)",
                self.backend_failed_trials
            ));
        }
        lines.join("\n")
    }
}
