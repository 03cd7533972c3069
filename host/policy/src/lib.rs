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
//!
//! [`LlmPolicy`] runs a Qwen3 language model on candle (CPU by default, CUDA
//! with the `cuda` feature):
//! - [`config`], [`loading`]: Hugging Face model directories (and hub ids with
//!   the `hub` feature);
//! - [`model`]: a trainable Qwen3 (same weights and logits as
//!   `candle_transformers`' inference-only one), [`kv_cache`];
//! - [`chat`], [`tokenizer`]: the Qwen3 chat template with thinking off;
//! - [`sampling`], [`generation`]: seeded batched generation;
//! - [`scoring`]: training log-probs and entropies with gradients;
//! - [`trainable`], [`lora`], [`optim`]: what a trainer updates, PEFT adapters,
//!   AdamW with checkpointable state, gradient clipping;
//! - [`activation_checkpoint`]: recompute decoder layers in backward instead
//!   of keeping their activations, and the [`backward`] trainers call;
//! - [`tiny`]: the built-in tiny model, the default when no model is given;
//! - [`attention`]: attention that materialises one score tensor per block;
//! - [`manual_grad`]: backward passes written by hand for fused forwards;
//!   [`train_kernels`]: RMSNorm, RoPE, dense layers and log-probs for
//!   training with them; [`gated_silu`]: the MLP gate in one kernel;
//! - [`cpu_matmul`]: CPU matrix products without candle's zero-fill;
//! - [`allocator`]: keeps tensor buffers in the process (glibc `mallopt`);
//! - [`memory`]: the memory plan of a training run, checked before it starts;
//! - [`threads`]: the CPU thread count, fixed once at start-up;
//! - [`bench`]: throughput measurements;
//! - [`parity`]: outputs recorded from Hugging Face `transformers`/PEFT and
//!   the check that ours match them.

pub mod activation_checkpoint;
pub mod allocator;
pub mod attention;
pub mod bench;
pub mod chat;
pub mod config;
pub mod cpu_matmul;
mod error;
pub mod gated_silu;
pub mod generation;
#[cfg(feature = "hub")]
pub mod hub;
pub mod kv_cache;
mod llm;
pub mod loading;
pub mod lora;
pub mod manual_grad;
pub mod memory;
pub mod model;
pub mod optim;
pub mod parity;
pub mod prefix_sharing;
pub mod sampling;
pub mod scoring;
mod scripted;
#[cfg(test)]
mod test_values;
pub mod threads;
pub mod tiny;
pub mod tokenizer;
pub mod train_kernels;
pub mod trainable;
mod types;
mod vector_math;

pub use activation_checkpoint::backward;
pub use config::Qwen3Config;
pub use error::PolicyError;
pub use llm::{LlmPolicy, ModelSource};
pub use lora::LoraConfig;
pub use model::{Pass, Qwen3Model};
pub use optim::{AdamW, AdamWConfig, clip_grad_norm};
pub use scoring::{ScoreRow, TokenScores, score_tokens};
pub use scripted::{ExpertPolicy, RandomPolicy};
pub use trainable::{TrainMode, TrainableParams};
pub use types::{
    ChatMessage, FinishReason, PartialBatch, Policy, PolicyRequest, PolicyResponse, PolicyUsage,
    RequestKind, Role, SamplingParams,
};

/// Re-exported so callers can name devices and dtypes without depending on
/// candle directly.
pub use candle_core::{DType, Device};
