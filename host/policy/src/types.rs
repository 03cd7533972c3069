//! The policy interface: requests, sampling settings, responses.

use serde::{Deserialize, Serialize};

use crate::PolicyError;

/// Who speaks a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::User,
            content: content.into(),
        }
    }
}

/// What the response is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    /// A play turn: the answer must contain `<action>…</action>`.
    Act,
    /// A reflection after a failed attempt: `<remark>…</remark>`.
    Reflect,
}

/// One prompt to answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRequest {
    pub messages: Vec<ChatMessage>,
    pub kind: RequestKind,
    /// The seed of this response's sampling; a pure function of the run seed
    /// and the request's place in the rollout.
    pub seed: u64,
    /// For scripted policies only: the environment's admissible actions.
    pub admissible_actions: Vec<String>,
    /// For scripted policies only: the environment's expert action.
    pub expert_action: Option<String>,
}

/// Sampling settings shared by a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// 0 means greedy.
    pub temperature: f32,
    /// Nucleus mass in (0, 1]; 1 disables it.
    pub top_p: f32,
    /// Keep the k most likely tokens; 0 disables it.
    pub top_k: usize,
    /// Stop after this many generated tokens.
    pub max_new_tokens: usize,
    /// Repetition penalty over the prompt and the tokens generated so far,
    /// as transformers' `RepetitionPenaltyLogitsProcessor`: a seen token's
    /// positive logit is divided by it, a negative one multiplied. 1 is off
    /// (LaMer's official evaluation uses 1.05).
    #[serde(
        default = "no_repetition_penalty",
        skip_serializing_if = "is_no_repetition_penalty"
    )]
    pub repetition_penalty: f32,
}

fn no_repetition_penalty() -> f32 {
    1.0
}

fn is_no_repetition_penalty(p: &f32) -> bool {
    *p == 1.0
}

impl SamplingParams {
    /// LaMer's training rollouts: temperature 1, no truncation.
    pub fn training(max_new_tokens: usize) -> Self {
        SamplingParams {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            max_new_tokens,
            repetition_penalty: 1.0,
        }
    }

    /// LaMer's validation and test settings: temperature 0.7, top-p 0.8, top-k 20.
    pub fn evaluation(max_new_tokens: usize) -> Self {
        SamplingParams {
            temperature: 0.7,
            top_p: 0.8,
            top_k: 20,
            max_new_tokens,
            repetition_penalty: 1.0,
        }
    }

    /// Deterministic argmax decoding.
    pub fn greedy(max_new_tokens: usize) -> Self {
        SamplingParams {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            max_new_tokens,
            repetition_penalty: 1.0,
        }
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// An end-of-turn or end-of-sequence token.
    Stop,
    /// The max-new-tokens limit.
    Length,
    /// A scripted policy wrote the text directly.
    Scripted,
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyResponse {
    pub text: String,
    /// The prompt as the model saw it (chat template applied); empty for
    /// scripted policies.
    pub prompt_ids: Vec<u32>,
    /// The generated tokens, without the stop token.
    pub response_ids: Vec<u32>,
    /// The sampling log-probability of each response token.
    pub logprobs: Vec<f32>,
    pub finish: FinishReason,
    /// The stop token that ended the response (`finish == Stop`), which is
    /// not part of `response_ids`; a trainer that wants the model to learn
    /// when to stop appends it to the response with `stop_logprob`.
    #[serde(default)]
    pub stop_token: Option<u32>,
    /// The sampling log-prob of `stop_token`.
    #[serde(default)]
    pub stop_logprob: Option<f32>,
}

impl PolicyResponse {
    /// A scripted answer with no tokens.
    pub fn scripted(text: impl Into<String>) -> Self {
        PolicyResponse {
            text: text.into(),
            prompt_ids: Vec::new(),
            response_ids: Vec::new(),
            logprobs: Vec::new(),
            finish: FinishReason::Scripted,
            stop_token: None,
            stop_logprob: None,
        }
    }
}

/// What a policy backend has spent so far: calls, tokens. Remote backends
/// count what the server reports; in-process policies need not implement it
/// (callers then count the tokens of the responses themselves).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyUsage {
    /// Requests answered or finally failed (one per prompt, retries not counted).
    pub requests: u64,
    /// HTTP attempts beyond the first of each request.
    pub retries: u64,
    /// Requests that finally failed (after retries).
    pub failed_requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Some requests of a batch finally failed in the policy backend (after its
/// retries) while the others were answered: one entry per request, in order.
/// A rollout ends only the failed requests' trials, as failed by the backend.
#[derive(Debug, Clone, PartialEq)]
pub struct PartialBatch {
    pub answers: Vec<Result<PolicyResponse, String>>,
}

impl PartialBatch {
    /// "k of n requests failed; first: …", for error messages.
    pub fn summary(&self) -> String {
        let failed: Vec<&String> = self
            .answers
            .iter()
            .filter_map(|a| a.as_ref().err())
            .collect();
        format!(
            "{} of {} requests failed in the policy backend; first: {}",
            failed.len(),
            self.answers.len(),
            failed.first().map_or("?", |m| m.as_str())
        )
    }
}

/// Turns batches of prompts into responses.
pub trait Policy: Send {
    /// A short name for reports, e.g. `random`, `expert` or a model path.
    fn name(&self) -> String;

    /// What this policy has spent so far, where it keeps count (remote
    /// backends); `None` by default.
    fn usage(&self) -> Option<PolicyUsage> {
        None
    }

    /// Answers every request; the output has one response per request, in order.
    fn generate(
        &mut self,
        requests: &[PolicyRequest],
        sampling: &SamplingParams,
    ) -> Result<Vec<PolicyResponse>, PolicyError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_batch_says_how_many_failed_and_the_first_reason() {
        let batch = PartialBatch {
            answers: vec![
                Ok(PolicyResponse::scripted("a")),
                Err("HTTP 503: overloaded".into()),
                Err("timeout".into()),
            ],
        };
        assert_eq!(
            batch.summary(),
            "2 of 3 requests failed in the policy backend; first: HTTP 503: overloaded"
        );
        let error = PolicyError::PartialBatch(Box::new(batch));
        assert!(error.to_string().starts_with("2 of 3 requests failed"));
    }
}
