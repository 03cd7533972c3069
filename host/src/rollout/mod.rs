//! # rollout: multi-attempt trials, played in lockstep
//!
//! A **trial** is up to N attempts (episodes) at one task, each starting from
//! the identical initial state. B tasks × G trials play together: every trial
//! owns its own environment session, and at each turn the prompts of all
//! still-active trials go to the policy as one batch. The phases of a rollout:
//!
//! ```text
//! play(attempt 0) → [reflect → restart → play(attempt k)] for k in 1..N
//! ```
//!
//! A trial that won is inactive from then on (no reflection, no more
//! attempts). An environment error fails only its own trial. Every LLM call is
//! recorded as a [`Row`] — the unit the trainer learns from — and every trial
//! ends with a [`TrialResult`] the evaluation reads.
//!
//! [`TrialMode::ZeroShot`] plays N independent attempts with no reflection and
//! no memory (how the single-episode RL baselines are evaluated).

mod engine;
mod row;

pub use engine::{
    NoObserver, RolloutConfig, RolloutError, RolloutObserver, RolloutOutput, TaskGroup, TrialMode,
    request_seed, run_rollout,
};
pub use row::{AttemptOutcome, Phase, Row, StepRecord, TrialFailure, TrialResult, first_failure};
