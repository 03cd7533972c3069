//! How to reach the server and how patiently.

use std::time::Duration;

use lamer_policy::tokenizer::PolicyTokenizer;

/// Which endpoint carries the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireMode {
    /// `/chat/completions`: messages in, text out; no token ids.
    Chat,
    /// `/completions` with prompt token ids and `logprobs`: ids and
    /// log-probs are kept, rows are trainable.
    TokenExact,
}

impl WireMode {
    pub fn as_str(self) -> &'static str {
        match self {
            WireMode::Chat => "chat",
            WireMode::TokenExact => "token-exact",
        }
    }
}

/// Everything [`crate::OpenAiPolicy`] needs.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// The API root, e.g. `http://127.0.0.1:8000/v1` (a bare `http://host:port`
    /// gets `/v1` appended).
    pub base_url: String,
    /// The model name the server serves.
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    pub mode: WireMode,
    /// The tokenizer of the served model; token-exact mode needs it to turn
    /// prompts into ids and to know the stop tokens.
    pub tokenizer: Option<PolicyTokenizer>,
    /// Requests in flight at once (at least 1).
    pub max_concurrency: usize,
    /// The deadline of one HTTP attempt, connecting through reading the body.
    pub request_timeout: Duration,
    /// Attempts after the first for a retryable failure.
    pub retries: u32,
    /// The first backoff; it doubles per retry up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Send `top_k` (not in OpenAI's schema; vLLM, SGLang and llama.cpp take
    /// it, strict servers such as `transformers serve` reject it).
    pub send_top_k: bool,
    /// Extra stop strings.
    pub stop: Vec<String>,
    /// Passed as `chat_template_kwargs` in chat mode when set, e.g.
    /// `{"enable_thinking": false}` for Qwen3 on vLLM or SGLang.
    pub chat_template_kwargs: Option<serde_json::Value>,
}

impl OpenAiConfig {
    /// Defaults: chat mode, 8 requests in flight, 120 s per attempt, 4
    /// retries from 0.5 s doubling to 8 s, `top_k` sent.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        OpenAiConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            mode: WireMode::Chat,
            tokenizer: None,
            max_concurrency: 8,
            request_timeout: Duration::from_secs(120),
            retries: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            send_top_k: true,
            stop: Vec::new(),
            chat_template_kwargs: None,
        }
    }

    /// The backoff before retry `n` (0-based): initial × 2ⁿ, capped.
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.min(20)).unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// The API root without a trailing slash, with `/v1` added to a bare
    /// `scheme://host:port`.
    pub fn api_root(&self) -> String {
        let trimmed = self.base_url.trim().trim_end_matches('/');
        let after_scheme = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
        if after_scheme.contains('/') {
            trimmed.to_string()
        } else {
            format!("{trimmed}/v1")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_host_gets_v1_and_a_path_is_kept() {
        let root = |url: &str| OpenAiConfig::new(url, "m").api_root();
        assert_eq!(root("http://127.0.0.1:8000"), "http://127.0.0.1:8000/v1");
        assert_eq!(root("http://127.0.0.1:8000/"), "http://127.0.0.1:8000/v1");
        assert_eq!(
            root("https://api.example.com/v1/"),
            "https://api.example.com/v1"
        );
        assert_eq!(root("http://h/openai/v1"), "http://h/openai/v1");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut c = OpenAiConfig::new("http://h", "m");
        c.initial_backoff = Duration::from_millis(100);
        c.max_backoff = Duration::from_millis(350);
        let b: Vec<u128> = (0..4).map(|n| c.backoff(n).as_millis()).collect();
        assert_eq!(b, [100, 200, 350, 350]);
        assert_eq!(c.backoff(1000), Duration::from_millis(350));
    }
}
