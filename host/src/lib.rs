//! # lamer-host: the learner
//!
//! Data flows plugin → rollout → train → eval:
//!
//! - environments come from [`lamer_plugin`] (sandboxed wasm plugins, or native
//!   environments in tests);
//! - policies come from [`lamer_policy`] (the candle Qwen3, or scripted ones);
//! - this crate assembles prompts and memory (`agent`), runs multi-attempt
//!   trials in lockstep (`rollout`), computes cross-episode returns and
//!   updates the policy (`train`), and measures success per attempt (`eval`).
//!   The `cli` module is the `lamer-host` binary's command line.

pub mod agent;
pub mod check;
pub mod cli;
pub mod eval;
pub mod rollout;
pub mod serve;
pub mod train;
