//! # lamer-sdk: write a lamer environment once, run it in the sandbox and in tests
//!
//! An environment is a text game an LLM agent plays for several attempts. The
//! host (`lamer-host`) runs it as a WebAssembly component behind the
//! `lamer:env` WIT contract (`wit/lamer-env.wit`). This crate is everything an
//! author needs to write one:
//!
//! - [`Environment`]: the trait an author implements — open from a config,
//!   reset to a task, step on action text, list admissible actions, offer an
//!   expert move and the prompt pieces.
//! - [`export_env!`]: the one macro that wires the trait to the WIT contract.
//!   Authors write no bindgen glue.
//! - [`Session`]: the native harness. It gives an environment exactly the
//!   semantics the host sees through wasm (config defaults, task validation,
//!   turn limit, identical `restart`, `episode-over`), so unit tests run the same
//!   code natively.
//! - [`SeededRng`]: a portable seeded generator; every random draw is a pure
//!   function of the task seed, so transcripts are identical natively and in wasm.
//! - [`Grid`]: small helpers for board games rendered as text.
//! - [`Transcript`]: a deterministic record of a played episode, the unit of
//!   snapshot tests.
//!
//! ```
//! use lamer_sdk::*;
//!
//! #[derive(Clone)]
//! struct Coin { heads: bool }
//!
//! #[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
//! struct CoinConfig {}
//!
//! impl Environment for Coin {
//!     type Config = CoinConfig;
//!     fn info() -> EnvInfo {
//!         EnvInfo::new("coin", "0.1.0", "Guess the side of a seeded coin.", 1)
//!             .with_split(SplitInfo::procedural("train", "Any seed.", 1 << 16))
//!     }
//!     fn open(_: CoinConfig) -> Result<Self, EnvError> { Ok(Coin { heads: false }) }
//!     fn max_turns(&self) -> u32 { 1 }
//!     fn reset(&mut self, task: &Task) -> Result<ResetResult, EnvError> {
//!         self.heads = SeededRng::new(task.index).chance(0.5);
//!         Ok(ResetResult::new("A coin was tossed. Heads or tails?"))
//!     }
//!     fn step(&mut self, action: &str) -> Result<Step, EnvError> {
//!         let guess = action.trim().to_lowercase();
//!         let valid = guess == "heads" || guess == "tails";
//!         let won = valid && (guess == "heads") == self.heads;
//!         Ok(Step::new(if won { "Right." } else { "Wrong." })
//!             .reward(if won { 1.0 } else { 0.0 })
//!             .terminated(true)
//!             .won(won)
//!             .valid(valid)
//!             .echo(guess))
//!     }
//!     fn admissible_actions(&self) -> Vec<String> { vec!["heads".into(), "tails".into()] }
//!     fn prompt(&self) -> PromptPieces { PromptPieces::new("You toss coins.", "Guess the side.") }
//! }
//!
//! export_env!(Coin);
//!
//! let mut session = Session::<Coin>::open("{}").unwrap();
//! session.reset(&Task::new("train", 7)).unwrap();
//! let step = session.step("heads").unwrap();
//! assert!(step.terminated);
//! ```

mod environment;
mod error;
#[doc(hidden)]
pub mod export;
mod grid;
mod rng;
mod session;
mod transcript;
mod types;

pub use environment::Environment;
pub use error::EnvError;
pub use grid::Grid;
pub use rng::{SeededRng, mix_seed};
pub use session::{Session, full_info, parse_config};
pub use transcript::{Transcript, TranscriptStep};
pub use types::{
    EnvInfo, HistoryWindow, InfoPair, PromptPieces, ResetResult, SplitInfo, Step, StepResult, Task,
};

/// The `rand` crate this SDK builds on, so authors can use its traits on
/// [`SeededRng`] without pinning a version of their own.
pub use rand;
/// `serde`, re-exported for config structs.
pub use serde;
/// `serde_json`, re-exported for config handling.
pub use serde_json;

/// The version of the `lamer:env` WIT package this SDK implements.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// Where a read-only data directory granted by the user appears inside the
/// sandbox (`lamer-host … --data-dir DIR`). Absent unless granted.
pub const DATA_DIR: &str = "/data";
