//! # agent: what the language model reads and how its answers are read back
//!
//! LaMer never keeps a chat transcript. Every turn the agent gets ONE freshly
//! rendered user message that re-states the environment's rules, the initial
//! state, what it remembers of earlier attempts, the recent history of the
//! current attempt and what it must answer. This module owns that text:
//!
//! - [`memory`]: what survives from one attempt to the next ([`MemoryMode`]:
//!   reflections, action/observation logs, or both);
//! - [`prompt`]: the play prompt and the reflect prompt, assembled from the
//!   environment's [`lamer_sdk::PromptPieces`];
//! - [`parse`]: reading `<action>…</action>` and `<remark>…</remark>` out of a
//!   response, and what an environment receives when the tags are missing.

pub mod memory;
pub mod parse;
pub mod prompt;

pub use memory::{HistoryTurn, MemoryMode, PastAttempt};
pub use parse::{
    INFO_ADMISSIBLE, InvalidFallback, MAX_REFLECTION_CHARS, ParsedAction, ParsingTable,
    ResponseParsing, TagSpan, ValidityRule, extract_action, extract_reflection,
};
pub use prompt::{PlayView, PromptAssembler, REFLECTION_ANCHOR};
