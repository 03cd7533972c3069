//! The flags of the OpenAI-compatible policy backend (`--policy openai`):
//! where the server is, which model, which wire mode, and how patiently to
//! ask. Shared by every subcommand that can play with a served model.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use lamer_openai::{OpenAiConfig, OpenAiPolicy, WireMode};
use lamer_policy::ModelSource;
use lamer_policy::tokenizer::PolicyTokenizer;

/// The `--wire` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Wire {
    /// `/v1/chat/completions`: messages in, text out (any server; no token ids).
    Chat,
    /// `/v1/completions` with prompt token ids and logprobs (vLLM, SGLang):
    /// token ids and log-probs are kept, rows are trainable.
    TokenExact,
}

#[derive(Debug, Clone, Args)]
pub struct OpenAiArgs {
    /// `--policy openai`: the server's API root, e.g. http://127.0.0.1:8000/v1.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// `--policy openai`: the environment variable holding the API key (sent as a
    /// bearer token); none is sent without it.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,

    /// `--policy openai`: chat (any server) or token-exact (token ids and
    /// log-probs kept; vLLM, SGLang).
    #[arg(long, value_enum, default_value = "chat")]
    pub wire: Wire,

    /// `--policy openai --wire token-exact`: the served model's tokenizer, a model
    /// directory, a tokenizer.json, or `tiny` for the built-in tiny model.
    #[arg(long, value_name = "PATH")]
    pub tokenizer: Option<String>,

    /// `--policy openai`: requests in flight at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub max_concurrency: usize,

    /// `--policy openai`: the deadline of each HTTP attempt, in seconds.
    #[arg(long, default_value_t = 120.0, value_name = "SECS")]
    pub request_timeout: f64,

    /// `--policy openai`: retries of a request after 429, 5xx, timeouts or
    /// connection errors (exponential backoff from 0.5 s to 8 s).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub retries: u32,

    /// `--policy openai`: do not send top_k (not in OpenAI's schema; strict
    /// servers such as `transformers serve` and hosted APIs reject it).
    #[arg(long)]
    pub omit_top_k: bool,

    /// `--policy openai`: an extra stop string (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,

    /// `--policy openai --wire chat`: JSON passed as chat_template_kwargs, e.g.
    /// '{"enable_thinking": false}' for Qwen3 on vLLM or SGLang.
    #[arg(long, value_name = "JSON")]
    pub chat_template_kwargs: Option<String>,
}

impl OpenAiArgs {
    /// The backend for `model`, checked against the server before it is used.
    pub fn connect(&self, model: Option<&str>) -> anyhow::Result<OpenAiPolicy> {
        let base_url = self
            .base_url
            .clone()
            .context("--policy openai needs --base-url (e.g. http://127.0.0.1:8000/v1)")?;
        let model =
            model.context("--policy openai needs --model NAME (the served model's name)")?;
        let mut config = OpenAiConfig::new(base_url, model);
        if let Some(var) = &self.api_key_env {
            let key = std::env::var(var)
                .with_context(|| format!("--api-key-env {var}: the variable is not set"))?;
            config.api_key = Some(key);
        }
        config.mode = match self.wire {
            Wire::Chat => WireMode::Chat,
            Wire::TokenExact => WireMode::TokenExact,
        };
        if let Some(spec) = &self.tokenizer {
            config.tokenizer = Some(load_tokenizer(spec)?);
        }
        config.max_concurrency = self.max_concurrency.max(1);
        anyhow::ensure!(
            self.request_timeout.is_finite() && self.request_timeout > 0.0,
            "--request-timeout must be a positive number of seconds"
        );
        config.request_timeout = Duration::from_secs_f64(self.request_timeout);
        config.retries = self.retries;
        config.send_top_k = !self.omit_top_k;
        config.stop = self.stop.clone();
        if let Some(json) = &self.chat_template_kwargs {
            config.chat_template_kwargs =
                Some(serde_json::from_str(json).context("--chat-template-kwargs is not JSON")?);
        }
        Ok(OpenAiPolicy::connect(config)?)
    }
}

fn load_tokenizer(spec: &str) -> anyhow::Result<PolicyTokenizer> {
    let path = Path::new(spec);
    let file = if path.is_file() {
        path.to_path_buf()
    } else {
        ModelSource::parse(Some(spec))
            .resolve()
            .with_context(|| format!("--tokenizer {spec}"))?
            .join("tokenizer.json")
    };
    PolicyTokenizer::from_file(&file).with_context(|| format!("--tokenizer {spec}"))
}
