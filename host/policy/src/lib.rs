//! # lamer-policy: what turns a prompt into an action
//!
//! A [`Policy`] receives a batch of chat prompts — one per active trial of a
//! rollout turn — and returns one response per prompt, with the token ids and
//! per-token sampling log-probabilities the trainer needs. Every request
//! carries its own seed, so a response does not depend on which other trials
//! happen to share its batch.
//!
//! Scripted policies ([`RandomPolicy`], [`ExpertPolicy`]) implement the same
//! trait without a model; the rollout engine and evaluation are tested with
//! them.

mod scripted;
mod types;

pub use scripted::{ExpertPolicy, RandomPolicy};
pub use types::{
    ChatMessage, FinishReason, Policy, PolicyError, PolicyRequest, PolicyResponse, RequestKind,
    Role, SamplingParams,
};
