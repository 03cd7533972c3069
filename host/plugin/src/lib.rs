//! # lamer-plugin: environments behind one interface, sandboxed or native
//!
//! The learner talks to environments through two object-safe traits:
//! [`EnvFactory`] (static facts, opening sessions) and [`EnvSession`] (one
//! playing session: reset, restart, step, queries). A WebAssembly plugin loaded
//! into the wasmtime sandbox ([`Runtime::load`] → [`Plugin`]) implements them,
//! and so does any [`lamer_sdk::Environment`] run natively through
//! [`NativeEnv`], which lets the rollout engine be tested without compiling a
//! component.

mod env;
mod runtime;

pub use env::{EnvFactory, EnvSession, NativeEnv, SessionError};
pub use runtime::{
    DEFAULT_INSTANCE_SLOTS, DEFAULT_MAX_EPISODE_TURNS, LoadError, Plugin, Runtime, RuntimeConfig,
    SandboxLimits, WasmSession, default_cache_dir,
};
