//! # lamer-openai: any OpenAI-compatible server as a lamer policy
//!
//! Most models people want to evaluate are already served somewhere: vLLM,
//! SGLang, llama.cpp's server, `transformers serve`, or a hosted API. This
//! crate turns such a server into a [`lamer_policy::Policy`], so the rollout
//! engine and `eval` run the same prompts, memory modes, parsing and metrics
//! against it as against the in-process candle model, without knowing which
//! backend answers.
//!
//! Two wire modes ([`WireMode`]):
//! - **chat** — `POST /chat/completions`, messages in, text out. Every
//!   compatible server has it; the server applies its own chat template, so
//!   the rows carry text but no token ids (fine for evaluation, not for
//!   training).
//! - **token-exact** — `POST /completions` with the prompt as token ids
//!   (rendered with our Qwen3 template and tokenised here) and `logprobs`, as
//!   vLLM and SGLang support. The response's token ids and per-token
//!   log-probs are kept, so the rows are trainable without re-tokenising text
//!   (re-tokenised chat history drifts from what was sampled).
//!
//! Every request has a deadline; 429, 5xx, connection errors, truncated or
//! malformed bodies are retried with exponential backoff; up to
//! `max_concurrency` requests are in flight at once. A request that still
//! fails is reported per request ([`lamer_policy::PolicyError::PartialBatch`]),
//! so the rollout ends only that trial, as failed by the backend.
//! [`OpenAiPolicy::connect`] checks the URL, the key, the model name and (in
//! token-exact mode) the server's support before anything runs, each with a
//! one-line error.
//!
//! Why a crate of its own rather than a module of `lamer-policy`: the HTTP
//! client and TLS stack stay out of the candle crate (which the trainer, SFT
//! and every test build), and the backend depends only on the `Policy` trait.

mod config;
mod error;
mod http;
mod policy;
pub mod wire;

pub use config::{OpenAiConfig, WireMode};
pub use error::OpenAiError;
pub use policy::OpenAiPolicy;
