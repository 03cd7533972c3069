//! A deterministic record of one played episode: the reset observation and
//! every action with its result. It is the unit of snapshot tests — plugin
//! crates record one natively with [`Transcript::record`], the host records one
//! through the sandbox, and both render to the same text.

use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

use crate::{EnvError, Environment, ResetResult, Session, StepResult, Task};

/// One action and what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptStep {
    pub action: String,
    pub result: StepResult,
}

/// An episode: the task, the reset and the steps, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub env: String,
    pub task: Task,
    pub reset: ResetResult,
    pub steps: Vec<TranscriptStep>,
}

impl Transcript {
    /// Plays `actions` natively from `task` with `config_json`, stopping when
    /// the episode ends. For snapshot tests of environment crates:
    ///
    /// ```ignore
    /// insta::assert_snapshot!(Transcript::record::<MyEnv>("{}", &Task::new("test", 0), &["up"])?.to_string());
    /// ```
    pub fn record<E: Environment>(
        config_json: &str,
        task: &Task,
        actions: &[&str],
    ) -> Result<Transcript, EnvError> {
        let mut session = Session::<E>::open(config_json)?;
        let reset = session.reset(task)?;
        let mut steps = Vec::new();
        for action in actions {
            if session.is_over() {
                break;
            }
            let result = session.step(action)?;
            steps.push(TranscriptStep {
                action: action.to_string(),
                result,
            });
        }
        Ok(Transcript {
            env: E::info().name,
            task: task.clone(),
            reset,
            steps,
        })
    }

    /// Plays the environment's expert from `task` until the episode ends.
    pub fn record_expert<E: Environment>(
        config_json: &str,
        task: &Task,
    ) -> Result<Transcript, EnvError> {
        let mut session = Session::<E>::open(config_json)?;
        let reset = session.reset(task)?;
        let mut steps = Vec::new();
        while let Some(action) = session.expert_action()? {
            let result = session.step(&action)?;
            steps.push(TranscriptStep { action, result });
        }
        Ok(Transcript {
            env: E::info().name,
            task: task.clone(),
            reset,
            steps,
        })
    }

    /// Sum of the step rewards.
    pub fn total_reward(&self) -> f64 {
        self.steps.iter().map(|s| s.result.reward).sum()
    }

    /// Whether any step won.
    pub fn won(&self) -> bool {
        self.steps.iter().any(|s| s.result.won)
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        let _ = writeln!(out, "env: {}  task: {}", self.env, self.task);
        let _ = writeln!(out, "reset:");
        let _ = writeln!(out, "{}", indent(&self.reset.observation));
        for pair in &self.reset.info {
            let _ = writeln!(out, "  info {} = {}", pair.key, pair.value);
        }
        for (i, step) in self.steps.iter().enumerate() {
            let r = &step.result;
            let _ = writeln!(out, "step {}: {:?}", i + 1, step.action);
            let _ = writeln!(
                out,
                "  echo {:?}  valid {}  reward {}  terminated {}  truncated {}  won {}",
                r.action_echo, r.action_valid, r.reward, r.terminated, r.truncated, r.won
            );
            for pair in &r.info {
                let _ = writeln!(out, "  info {} = {}", pair.key, pair.value);
            }
            let _ = writeln!(out, "{}", indent(&r.observation));
        }
        let _ = write!(
            out,
            "total reward {}  won {}",
            (self.total_reward() * 1e6).round() / 1e6,
            self.won()
        );
        f.write_str(&out)
    }
}
