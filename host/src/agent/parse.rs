//! Reading the model's answer.
//!
//! A play answer is free reasoning followed by the action inside
//! `<action>…</action>`; a reflect answer ends with the reflection inside
//! `<remark>…</remark>`. A missing tag makes the turn *invalid*: the trainer
//! penalises it, and the environment still receives something — what exactly
//! differs per environment in the reference code (a no-op for the grid games,
//! the tail of the lower-cased response for the text games), so it is a
//! setting keyed by environment name.
//!
//! Which span counts also differs per environment in the official code: its
//! Sokoban parser takes the first `<action>` up to the *last* `</action>` and
//! the first `<remark>` up to the first `</remark>`; its MineSweeper, WebShop
//! and ALFWorld parsers take the first `<action>` up to the *first*
//! `</action>` and the last `<remark>` up to the last `</remark>`. [`TagSpan`]
//! names each rule and follows Python's `find`/`rfind` slicing exactly,
//! including its edge case: when the chosen closing tag comes before the
//! opening one, the span is empty (and still counts as tagged).
//!
//! Whether a turn is *valid* (the row's penalty basis) is [`ValidityRule`]:
//! officially only the format counts — the tags, and for the grid games their
//! own action grammar (which our plugins report as `action_valid`) — while
//! an ALFWorld command the game does not accept just yields "Nothing
//! happens.". `env-accepted` also penalises what the environment rejects
//! (the `admissible` info key).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Reflections are cut to this many characters, as in the reference code.
pub const MAX_REFLECTION_CHARS: usize = 2000;

/// The info key with which an environment says that it accepted an action
/// (`"true"`/`"false"`), beyond understanding it (ALFWorld's admissible
/// commands).
pub const INFO_ADMISSIBLE: &str = "admissible";

const ACTION_OPEN: &str = "<action>";
const ACTION_CLOSE: &str = "</action>";
const REMARK_OPEN: &str = "<remark>";
const REMARK_CLOSE: &str = "</remark>";

/// Which occurrences of an opening and a closing tag delimit a span, in the
/// terms of Python's `str.find` (first) and `str.rfind` (last), both searched
/// over the whole response as the official parsers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TagSpan {
    /// First opening tag to first closing tag (official MineSweeper, WebShop
    /// and ALFWorld actions; Sokoban reflections).
    FirstToFirst,
    /// First opening tag to last closing tag (official Sokoban actions).
    FirstToLast,
    /// Last opening tag to last closing tag (official MineSweeper, WebShop
    /// and ALFWorld reflections).
    LastToLast,
}

impl TagSpan {
    /// The trimmed text of the span; `None` when either tag is missing. A
    /// closing tag before the opening one gives an empty span, as Python's
    /// slicing does.
    pub fn extract<'a>(self, text: &'a str, open: &str, close: &str) -> Option<&'a str> {
        let start = match self {
            TagSpan::FirstToFirst | TagSpan::FirstToLast => text.find(open)?,
            TagSpan::LastToLast => text.rfind(open)?,
        } + open.len();
        let end = match self {
            TagSpan::FirstToFirst => text.find(close)?,
            TagSpan::FirstToLast | TagSpan::LastToLast => text.rfind(close)?,
        };
        Some(text.get(start..end).unwrap_or("").trim())
    }
}

/// What the trainer counts as an invalid turn (the 0.5 penalty and the
/// invalid-action ratio).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ValidityRule {
    /// Tags missing or malformed, or an action the environment cannot read
    /// (its `action_valid`): the official definition in every environment.
    #[default]
    Format,
    /// [`ValidityRule::Format`], and also an action the environment did not
    /// accept (info `admissible = false`, e.g. an inadmissible ALFWorld
    /// command).
    EnvAccepted,
}

impl ValidityRule {
    /// Whether a tagged-or-not turn with this step outcome is valid.
    pub fn judge(self, tagged: bool, action_valid: bool, admissible: Option<&str>) -> bool {
        let format = tagged && action_valid;
        match self {
            ValidityRule::Format => format,
            ValidityRule::EnvAccepted => format && admissible != Some("false"),
        }
    }
}

/// The text between `<action>` and `</action>` under `span`.
pub fn extract_action(response: &str, span: TagSpan) -> Option<&str> {
    span.extract(response, ACTION_OPEN, ACTION_CLOSE)
}

/// The text between `<remark>` and `</remark>` under `span`, cut to
/// [`MAX_REFLECTION_CHARS`] characters.
pub fn extract_reflection(response: &str, span: TagSpan) -> Option<String> {
    span.extract(response, REMARK_OPEN, REMARK_CLOSE)
        .map(|text| text.chars().take(MAX_REFLECTION_CHARS).collect())
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

/// How one environment's responses are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseParsing {
    /// Lower-case the response before extracting the action (the reference
    /// does so for WebShop and ALFWorld, whose actions are lower-case).
    pub lowercase: bool,
    /// What the environment gets when the tags are missing.
    pub fallback: InvalidFallback,
    /// Which `<action>` span counts.
    pub action_span: TagSpan,
    /// Which `<remark>` span counts.
    pub remark_span: TagSpan,
}

impl Default for ResponseParsing {
    /// The rule of most official parsers: first `<action>` to first
    /// `</action>`, last `<remark>` to last `</remark>`, an empty action when
    /// the tags are missing.
    fn default() -> Self {
        ResponseParsing {
            lowercase: false,
            fallback: InvalidFallback::Empty,
            action_span: TagSpan::FirstToFirst,
            remark_span: TagSpan::LastToLast,
        }
    }
}

/// The outcome of parsing one play response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedAction {
    /// The text sent to the environment.
    pub env_action: String,
    /// Whether the action tags were present.
    pub tagged: bool,
}

impl ResponseParsing {
    /// The reflection of a reflect response; `None` when its tags are missing.
    pub fn reflection(&self, response: &str) -> Option<String> {
        extract_reflection(response, self.remark_span)
    }

    /// Extracts the action, or applies the fallback when the tags are missing.
    pub fn parse(&self, response: &str) -> ParsedAction {
        let text = if self.lowercase {
            std::borrow::Cow::Owned(response.to_lowercase())
        } else {
            std::borrow::Cow::Borrowed(response)
        };
        match extract_action(&text, self.action_span) {
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
    pub default: ResponseParsing,
    pub per_env: BTreeMap<String, ResponseParsing>,
}

impl Default for ParsingTable {
    /// The official parsers of the four LaMer environments
    /// (`agent_system/environments/*/projection.py`); everything else gets
    /// [`ResponseParsing::default`].
    fn default() -> Self {
        let tail = |chars| ResponseParsing {
            lowercase: true,
            fallback: InvalidFallback::Tail { chars },
            ..ResponseParsing::default()
        };
        let sokoban = ResponseParsing {
            action_span: TagSpan::FirstToLast,
            remark_span: TagSpan::FirstToFirst,
            ..ResponseParsing::default()
        };
        ParsingTable {
            default: ResponseParsing::default(),
            per_env: BTreeMap::from([
                ("sokoban".to_string(), sokoban),
                ("minesweeper".to_string(), ResponseParsing::default()),
                ("webshop".to_string(), tail(20)),
                ("alfworld".to_string(), tail(30)),
            ]),
        }
    }
}

impl ParsingTable {
    /// The settings for an environment.
    pub fn for_env(&self, env_name: &str) -> &ResponseParsing {
        self.per_env.get(env_name).unwrap_or(&self.default)
    }

    /// Sets (or replaces) one environment's settings.
    pub fn with(mut self, env_name: impl Into<String>, parsing: ResponseParsing) -> Self {
        self.per_env.insert(env_name.into(), parsing);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_follow_pythons_find_and_rfind() {
        let two = "<action>up</action> and <action>down</action>";
        assert_eq!(
            extract_action(two, TagSpan::FirstToLast),
            Some("up</action> and <action>down")
        );
        assert_eq!(extract_action(two, TagSpan::FirstToFirst), Some("up"));
        assert_eq!(extract_action(two, TagSpan::LastToLast), Some("down"));
        for span in [
            TagSpan::FirstToFirst,
            TagSpan::FirstToLast,
            TagSpan::LastToLast,
        ] {
            assert_eq!(
                extract_action("think <action> up </action>", span),
                Some("up")
            );
            assert_eq!(extract_action("no tags here", span), None);
            assert_eq!(extract_action("<action>unclosed", span), None);
            assert_eq!(extract_action("<action></action>", span), Some(""));
            // A closing tag before the opening one: Python's slice is empty.
            assert_eq!(extract_action("</action> before <action>", span), Some(""));
        }
    }

    #[test]
    fn each_env_uses_its_official_action_rule() {
        let table = ParsingTable::default();
        let twice = "<action>(1, 2)</action> no, <action>(3, 4)</action>";
        assert_eq!(
            table.for_env("minesweeper").parse(twice).env_action,
            "(1, 2)"
        );
        assert_eq!(table.for_env("webshop").parse(twice).env_action, "(1, 2)");
        assert_eq!(table.for_env("alfworld").parse(twice).env_action, "(1, 2)");
        assert_eq!(
            table.for_env("sokoban").parse(twice).env_action,
            "(1, 2)</action> no, <action>(3, 4)"
        );
        let reversed = table
            .for_env("webshop")
            .parse("</action> oops <action>click[x]");
        assert_eq!((reversed.env_action.as_str(), reversed.tagged), ("", true));
    }

    #[test]
    fn each_env_uses_its_official_remark_rule() {
        let table = ParsingTable::default();
        let twice = "<remark>old</remark> then <remark> new </remark>";
        assert_eq!(
            table.for_env("sokoban").reflection(twice).as_deref(),
            Some("old")
        );
        for env in ["minesweeper", "webshop", "alfworld", "my-env"] {
            assert_eq!(
                table.for_env(env).reflection(twice).as_deref(),
                Some("new"),
                "{env}"
            );
        }
        // Last-to-last keeps a stray closing tag inside the span.
        let stray = "<remark>a</remark> b </remark>";
        assert_eq!(
            table.for_env("minesweeper").reflection(stray).as_deref(),
            Some("a</remark> b")
        );
        assert_eq!(
            table.for_env("sokoban").reflection(stray).as_deref(),
            Some("a")
        );
        assert_eq!(table.for_env("alfworld").reflection("<remark>open"), None);
        assert_eq!(table.for_env("alfworld").reflection("plain"), None);
    }

    #[test]
    fn reflections_are_capped() {
        let long = format!("<remark>{}</remark>", "é".repeat(3000));
        assert_eq!(
            extract_reflection(&long, TagSpan::LastToLast)
                .unwrap()
                .chars()
                .count(),
            MAX_REFLECTION_CHARS
        );
    }

    #[test]
    fn validity_rules() {
        for rule in [ValidityRule::Format, ValidityRule::EnvAccepted] {
            assert!(!rule.judge(false, true, None));
            assert!(!rule.judge(true, false, None));
            assert!(rule.judge(true, true, None));
            assert!(rule.judge(true, true, Some("true")));
        }
        // An inadmissible command: fine by format, rejected by the env.
        assert!(ValidityRule::Format.judge(true, true, Some("false")));
        assert!(!ValidityRule::EnvAccepted.judge(true, true, Some("false")));
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
            ResponseParsing {
                fallback: InvalidFallback::Tail { chars: 3 },
                ..ResponseParsing::default()
            },
        );
        assert_eq!(custom.for_env("keydoor").parse("open 4").env_action, "n 4");
    }

    proptest::proptest! {
        #[test]
        fn wrapping_any_tagless_text_extracts_it(body in "[^<>]{0,60}", before in "[^<>]{0,30}") {
            let response = format!("{before}<action>{body}</action>");
            for span in [TagSpan::FirstToFirst, TagSpan::FirstToLast, TagSpan::LastToLast] {
                proptest::prop_assert_eq!(extract_action(&response, span), Some(body.trim()));
            }
        }

        #[test]
        fn tail_fallback_never_exceeds_its_length(text in ".{0,80}", chars in 0usize..40) {
            let out = InvalidFallback::Tail { chars }.apply(&text);
            proptest::prop_assert!(out.chars().count() <= chars);
        }
    }
}
