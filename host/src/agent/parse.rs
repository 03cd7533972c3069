//! Reading the model's answer.
//!
//! A play answer is free reasoning followed by the action inside
//! `<action>…</action>`; a reflect answer ends with the reflection inside
//! `<remark>…</remark>`. A missing tag makes the turn *invalid*: the trainer
//! penalises it, and the environment still receives something — what exactly
//! differs per environment in the reference code (a no-op for the grid games,
//! the tail of the lower-cased response for the text games), so it is a
//! setting keyed by environment name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Reflections are cut to this many characters, as in the reference code.
pub const MAX_REFLECTION_CHARS: usize = 2000;

const ACTION_OPEN: &str = "<action>";
const ACTION_CLOSE: &str = "</action>";
const REMARK_OPEN: &str = "<remark>";
const REMARK_CLOSE: &str = "</remark>";

/// The text between the first `<action>` and the last `</action>` after it,
/// trimmed; `None` when either tag is missing.
pub fn extract_action(response: &str) -> Option<&str> {
    let start = response.find(ACTION_OPEN)? + ACTION_OPEN.len();
    let rest = &response[start..];
    let end = rest.rfind(ACTION_CLOSE)?;
    Some(rest[..end].trim())
}

/// The text between the last `<remark>` and the first `</remark>` after it,
/// trimmed and cut to [`MAX_REFLECTION_CHARS`] characters; `None` when either
/// tag is missing.
pub fn extract_reflection(response: &str) -> Option<String> {
    let start = response.rfind(REMARK_OPEN)? + REMARK_OPEN.len();
    let rest = &response[start..];
    let end = rest.find(REMARK_CLOSE)?;
    Some(
        rest[..end]
            .trim()
            .chars()
            .take(MAX_REFLECTION_CHARS)
            .collect(),
    )
}

/// What the environment receives when a response has no action tags.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum InvalidFallback {
    /// An empty action, which every environment treats as a no-op or an
    /// ineffective move.
    #[default]
    Empty,
    /// The last `chars` characters of the lower-cased response (the
    /// reference's WebShop and ALFWorld behaviour).
    Tail { chars: usize },
}

impl InvalidFallback {
    fn apply(&self, response: &str) -> String {
        match self {
            InvalidFallback::Empty => String::new(),
            InvalidFallback::Tail { chars } => {
                let lower = response.to_lowercase();
                let count = lower.chars().count();
                lower.chars().skip(count.saturating_sub(*chars)).collect()
            }
        }
    }
}

/// How one environment's actions are read from a response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ActionParsing {
    /// Lower-case the response before extracting the action (the reference
    /// does so for WebShop and ALFWorld, whose actions are lower-case).
    pub lowercase: bool,
    /// What the environment gets when the tags are missing.
    pub fallback: InvalidFallback,
}

/// The outcome of parsing one play response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedAction {
    /// The text sent to the environment.
    pub env_action: String,
    /// Whether the action tags were present.
    pub tagged: bool,
}

impl ActionParsing {
    /// Extracts the action, or applies the fallback when the tags are missing.
    pub fn parse(&self, response: &str) -> ParsedAction {
        let text = if self.lowercase {
            std::borrow::Cow::Owned(response.to_lowercase())
        } else {
            std::borrow::Cow::Borrowed(response)
        };
        match extract_action(&text) {
            Some(action) => ParsedAction {
                env_action: action.to_string(),
                tagged: true,
            },
            None => ParsedAction {
                env_action: self.fallback.apply(response),
                tagged: false,
            },
        }
    }
}

/// Action-parsing settings keyed by environment name, with a default for
/// environments not listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsingTable {
    pub default: ActionParsing,
    pub per_env: BTreeMap<String, ActionParsing>,
}

impl Default for ParsingTable {
    /// The reference behaviour for the four LaMer environments; everything
    /// else gets an empty action on a missing tag.
    fn default() -> Self {
        let tail = |chars| ActionParsing {
            lowercase: true,
            fallback: InvalidFallback::Tail { chars },
        };
        ParsingTable {
            default: ActionParsing::default(),
            per_env: BTreeMap::from([
                ("sokoban".to_string(), ActionParsing::default()),
                ("minesweeper".to_string(), ActionParsing::default()),
                ("webshop".to_string(), tail(20)),
                ("alfworld".to_string(), tail(30)),
            ]),
        }
    }
}

impl ParsingTable {
    /// The settings for an environment.
    pub fn for_env(&self, env_name: &str) -> &ActionParsing {
        self.per_env.get(env_name).unwrap_or(&self.default)
    }

    /// Sets (or replaces) one environment's settings.
    pub fn with(mut self, env_name: impl Into<String>, parsing: ActionParsing) -> Self {
        self.per_env.insert(env_name.into(), parsing);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_spans_first_open_to_last_close() {
        assert_eq!(extract_action("think <action> up </action>"), Some("up"));
        assert_eq!(
            extract_action("<action>up</action> and <action>down</action>"),
            Some("up</action> and <action>down")
        );
        assert_eq!(extract_action("no tags here"), None);
        assert_eq!(extract_action("<action>unclosed"), None);
        assert_eq!(extract_action("</action> before <action>"), None);
        assert_eq!(extract_action("<action></action>"), Some(""));
    }

    #[test]
    fn reflection_takes_the_last_remark_and_is_capped() {
        assert_eq!(
            extract_reflection("<remark>old</remark> then <remark> new </remark>"),
            Some("new".to_string())
        );
        assert_eq!(extract_reflection("<remark>open"), None);
        assert_eq!(extract_reflection("plain"), None);
        let long = format!("<remark>{}</remark>", "é".repeat(3000));
        assert_eq!(
            extract_reflection(&long).unwrap().chars().count(),
            MAX_REFLECTION_CHARS
        );
    }

    #[test]
    fn fallbacks_follow_the_env_table() {
        let table = ParsingTable::default();
        let missing = "I will Click The BUY NOW button somewhere";
        let web = table.for_env("webshop").parse(missing);
        assert_eq!(web.env_action, "now button somewhere");
        assert_eq!(web.env_action.chars().count(), 20);
        assert!(!web.tagged);
        let alf = table.for_env("alfworld").parse(missing);
        assert_eq!(alf.env_action, "k the buy now button somewhere");
        assert_eq!(table.for_env("sokoban").parse(missing).env_action, "");
        assert_eq!(table.for_env("unknown-env").parse(missing).env_action, "");
        let tagged = table
            .for_env("alfworld")
            .parse("<ACTION>Go To Desk 1</ACTION>");
        assert_eq!(tagged.env_action, "go to desk 1");
        assert!(tagged.tagged);
        let custom = table.with(
            "keydoor",
            ActionParsing {
                lowercase: false,
                fallback: InvalidFallback::Tail { chars: 3 },
            },
        );
        assert_eq!(custom.for_env("keydoor").parse("open 4").env_action, "n 4");
    }

    proptest::proptest! {
        #[test]
        fn wrapping_any_tagless_text_extracts_it(body in "[^<>]{0,60}", before in "[^<>]{0,30}") {
            let response = format!("{before}<action>{body}</action>");
            proptest::prop_assert_eq!(extract_action(&response), Some(body.trim()));
        }

        #[test]
        fn tail_fallback_never_exceeds_its_length(text in ".{0,80}", chars in 0usize..40) {
            let out = InvalidFallback::Tail { chars }.apply(&text);
            proptest::prop_assert!(out.chars().count() <= chars);
        }
    }
}
