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

/// Turns batches of prompts into responses.
pub trait Policy: Send {
    /// A short name for reports, e.g. `random`, `expert` or a model path.
    fn name(&self) -> String;

    /// Answers every request; the output has one response per request, in order.
    fn generate(
        &mut self,
        requests: &[PolicyRequest],
        sampling: &SamplingParams,
    ) -> Result<Vec<PolicyResponse>, PolicyError>;
}
