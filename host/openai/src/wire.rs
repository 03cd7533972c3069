//! The JSON on the wire: request bodies for both modes, and what is read
//! back from the responses. Pure functions, so each field is unit-tested.
//!
//! Only widely shared fields are sent. Extensions (vLLM's and SGLang's
//! `top_k`, `stop_token_ids`, `return_token_ids`, `return_tokens_as_token_ids`,
//! `chat_template_kwargs`) are sent only where the mode or the settings need
//! them, because strict servers reject fields they do not know.

use lamer_policy::{FinishReason, PolicyRequest, PolicyResponse, Role, SamplingParams};
use serde_json::{Map, Value, json};

use crate::config::OpenAiConfig;

/// One parsed answer and what the server says it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub response: PolicyResponse,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

/// The sampling fields both endpoints share. The seed is folded into the
/// non-negative i64 range that servers validate against.
fn sampling_fields(
    config: &OpenAiConfig,
    seed: u64,
    sampling: &SamplingParams,
) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("model".into(), json!(config.model));
    body.insert("max_tokens".into(), json!(sampling.max_new_tokens));
    body.insert("temperature".into(), json!(sampling.temperature));
    body.insert("top_p".into(), json!(sampling.top_p));
    if config.send_top_k && sampling.top_k > 0 {
        body.insert("top_k".into(), json!(sampling.top_k));
    }
    body.insert("seed".into(), json!(seed & (i64::MAX as u64)));
    if !config.stop.is_empty() {
        body.insert("stop".into(), json!(config.stop));
    }
    body
}

/// A `/chat/completions` body.
pub fn chat_body(
    config: &OpenAiConfig,
    request: &PolicyRequest,
    sampling: &SamplingParams,
) -> Value {
    let mut body = sampling_fields(config, request.seed, sampling);
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({"role": role, "content": m.content})
        })
        .collect();
    body.insert("messages".into(), Value::Array(messages));
    if let Some(kwargs) = &config.chat_template_kwargs {
        body.insert("chat_template_kwargs".into(), kwargs.clone());
    }
    Value::Object(body)
}

/// A token-exact `/completions` body: the prompt as ids, one log-prob per
/// sampled token, tokens named by id, generation ending on the model's stop
/// tokens.
pub fn completion_body(
    config: &OpenAiConfig,
    prompt_ids: &[u32],
    stop_tokens: &[u32],
    seed: u64,
    sampling: &SamplingParams,
) -> Value {
    let mut body = sampling_fields(config, seed, sampling);
    body.insert("prompt".into(), json!(prompt_ids));
    body.insert("logprobs".into(), json!(1));
    // Two ways to get the sampled ids back: `token_ids` in the choice
    // (vLLM ≥ 0.10.2), or tokens written as `token_id:N` (older vLLM, SGLang).
    body.insert("return_token_ids".into(), json!(true));
    body.insert("return_tokens_as_token_ids".into(), json!(true));
    body.insert("stop_token_ids".into(), json!(stop_tokens));
    Value::Object(body)
}

fn parse_json(body: &str) -> Result<Value, String> {
    serde_json::from_str(body).map_err(|e| format!("invalid JSON ({e})"))
}

fn first_choice(value: &Value) -> Result<&Value, String> {
    value
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| "no choices[0]".to_string())
}

fn finish(choice: &Value) -> FinishReason {
    match choice.get("finish_reason").and_then(Value::as_str) {
        Some("length") => FinishReason::Length,
        _ => FinishReason::Stop,
    }
}

fn usage_field(value: &Value, name: &str) -> Option<u64> {
    value.get("usage")?.get(name)?.as_u64()
}

/// Reads a `/chat/completions` response: text only.
pub fn parse_chat(body: &str) -> Result<Answer, String> {
    let value = parse_json(body)?;
    let choice = first_choice(&value)?;
    let message = choice
        .get("message")
        .ok_or_else(|| "choices[0] has no message".to_string())?;
    let text = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => return Err(format!("message.content is not text: {other}")),
    };
    let mut response = PolicyResponse::scripted(text);
    response.finish = finish(choice);
    Ok(Answer {
        response,
        prompt_tokens: usage_field(&value, "prompt_tokens"),
        completion_tokens: usage_field(&value, "completion_tokens"),
    })
}

/// The sampled token ids: `choices[0].token_ids` where the server returns
/// them, else `logprobs.tokens` written as `token_id:N`
/// (`return_tokens_as_token_ids`).
fn token_ids(choice: &Value) -> Result<Vec<u32>, String> {
    if let Some(ids) = choice.get("token_ids").and_then(Value::as_array) {
        return ids
            .iter()
            .map(|id| id.as_u64().and_then(|i| u32::try_from(i).ok()))
            .collect::<Option<Vec<u32>>>()
            .ok_or_else(|| "token_ids holds a non-id".to_string());
    }
    let tokens = choice
        .pointer("/logprobs/tokens")
        .and_then(Value::as_array)
        .ok_or_else(|| "no token ids (neither token_ids nor logprobs.tokens)".to_string())?;
    tokens
        .iter()
        .map(|t| {
            t.as_str()
                .and_then(|s| s.strip_prefix("token_id:"))
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(|| format!("logprobs.tokens holds {t}, not a token_id:N"))
        })
        .collect()
}

fn token_logprobs(choice: &Value) -> Result<Vec<f32>, String> {
    let values = choice
        .pointer("/logprobs/token_logprobs")
        .and_then(Value::as_array)
        .ok_or_else(|| "no logprobs.token_logprobs".to_string())?;
    values
        .iter()
        .map(|v| {
            v.as_f64()
                .map(|f| f as f32)
                .ok_or_else(|| format!("a token log-prob is {v}"))
        })
        .collect()
}

/// Reads a token-exact `/completions` response. A trailing stop token is
/// split off into `stop_token` / `stop_logprob`, as the candle policy
/// reports it.
pub fn parse_completion(
    body: &str,
    prompt_ids: Vec<u32>,
    stop_tokens: &[u32],
) -> Result<Answer, String> {
    let value = parse_json(body)?;
    let choice = first_choice(&value)?;
    let text = choice
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| "choices[0] has no text".to_string())?
        .to_string();
    let mut ids = token_ids(choice)?;
    let mut logprobs = token_logprobs(choice)?;
    if ids.len() != logprobs.len() {
        return Err(format!(
            "{} token ids but {} log-probs",
            ids.len(),
            logprobs.len()
        ));
    }
    let mut finish = finish(choice);
    let (mut stop_token, mut stop_logprob) = (None, None);
    if ids.last().is_some_and(|id| stop_tokens.contains(id)) {
        stop_token = ids.pop();
        stop_logprob = logprobs.pop();
        finish = FinishReason::Stop;
    }
    Ok(Answer {
        response: PolicyResponse {
            text,
            prompt_ids,
            response_ids: ids,
            logprobs,
            finish,
            stop_token,
            stop_logprob,
        },
        prompt_tokens: usage_field(&value, "prompt_tokens"),
        completion_tokens: usage_field(&value, "completion_tokens"),
    })
}

/// The served model ids of a `/models` response.
pub fn parse_models(body: &str) -> Result<Vec<String>, String> {
    let value = parse_json(body)?;
    let data = value
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| "no data list".to_string())?;
    Ok(data
        .iter()
        .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_string))
        .collect())
}

/// The server's own words from an error body (`error.message`, `detail`,
/// `message`), else the body itself, on one line and bounded.
pub fn error_message(body: &str) -> String {
    let value = serde_json::from_str::<Value>(body).ok();
    let found = value.as_ref().and_then(|v| {
        [
            v.pointer("/error/message"),
            v.get("error"),
            v.get("detail"),
            v.get("message"),
        ]
        .into_iter()
        .flatten()
        .find_map(|m| match m {
            Value::String(s) => Some(s.clone()),
            Value::Null | Value::Object(_) => None,
            other => Some(other.to_string()),
        })
    });
    let text = found.unwrap_or_else(|| body.to_string());
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None if line.is_empty() => "(empty body)".to_string(),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamer_policy::{ChatMessage, RequestKind};

    fn request(seed: u64) -> PolicyRequest {
        PolicyRequest {
            messages: vec![ChatMessage::user("Play.")],
            kind: RequestKind::Act,
            seed,
            admissible_actions: Vec::new(),
            expert_action: None,
        }
    }

    #[test]
    fn chat_body_passes_the_sampling_settings_through() {
        let mut config = OpenAiConfig::new("http://h", "m");
        config.stop = vec!["</action>".into()];
        let body = chat_body(&config, &request(u64::MAX), &SamplingParams::evaluation(64));
        assert_eq!(body["model"], "m");
        assert_eq!(body["messages"][0]["role"], "user");
        assert_eq!(body["messages"][0]["content"], "Play.");
        assert_eq!(body["max_tokens"], 64);
        assert!((body["temperature"].as_f64().unwrap() - 0.7).abs() < 1e-6);
        assert!((body["top_p"].as_f64().unwrap() - 0.8).abs() < 1e-6);
        assert_eq!(body["top_k"], 20);
        assert_eq!(body["seed"], i64::MAX);
        assert_eq!(body["stop"][0], "</action>");
        assert!(body.get("chat_template_kwargs").is_none());
    }

    #[test]
    fn top_k_is_left_out_when_disabled_or_not_wanted() {
        let mut config = OpenAiConfig::new("http://h", "m");
        let greedy = chat_body(&config, &request(1), &SamplingParams::greedy(8));
        assert!(greedy.get("top_k").is_none());
        config.send_top_k = false;
        let eval = chat_body(&config, &request(1), &SamplingParams::evaluation(8));
        assert!(eval.get("top_k").is_none());
    }

    #[test]
    fn completion_body_sends_ids_and_asks_for_logprobs() {
        let config = OpenAiConfig::new("http://h", "m");
        let body = completion_body(&config, &[5, 6], &[9], 3, &SamplingParams::greedy(4));
        assert_eq!(body["prompt"], json!([5, 6]));
        assert_eq!(body["logprobs"], 1);
        assert_eq!(body["return_tokens_as_token_ids"], true);
        assert_eq!(body["return_token_ids"], true);
        assert_eq!(body["stop_token_ids"], json!([9]));
        assert_eq!(body["temperature"], 0.0);
    }

    #[test]
    fn chat_response_text_and_finish() {
        let body = r#"{"choices":[{"message":{"role":"assistant","content":"<action>up</action>"},
            "finish_reason":"length"}],"usage":{"prompt_tokens":12,"completion_tokens":5}}"#;
        let a = parse_chat(body).unwrap();
        assert_eq!(a.response.text, "<action>up</action>");
        assert_eq!(a.response.finish, FinishReason::Length);
        assert!(a.response.response_ids.is_empty());
        assert_eq!((a.prompt_tokens, a.completion_tokens), (Some(12), Some(5)));
        assert!(parse_chat(r#"{"choices":[]}"#).is_err());
        assert!(parse_chat("{\"choices\":[{\"mess").is_err());
    }

    #[test]
    fn completion_response_keeps_ids_and_splits_the_stop_token() {
        let body = r#"{"choices":[{"text":"ab","finish_reason":"stop","logprobs":{
            "tokens":["token_id:7","token_id:8","token_id:9"],
            "token_logprobs":[-0.5,-1.0,-0.25]}}]}"#;
        let a = parse_completion(body, vec![1, 2], &[9]).unwrap();
        assert_eq!(a.response.prompt_ids, [1, 2]);
        assert_eq!(a.response.response_ids, [7, 8]);
        assert_eq!(a.response.logprobs, [-0.5, -1.0]);
        assert_eq!(a.response.stop_token, Some(9));
        assert_eq!(a.response.stop_logprob, Some(-0.25));
        assert_eq!(a.response.finish, FinishReason::Stop);
    }

    #[test]
    fn completion_response_prefers_token_ids_and_checks_lengths() {
        let body = r#"{"choices":[{"text":"a","finish_reason":"length","token_ids":[4,5],
            "logprobs":{"tokens":["a","b"],"token_logprobs":[-1.0,-2.0]}}]}"#;
        let a = parse_completion(body, vec![], &[9]).unwrap();
        assert_eq!(a.response.response_ids, [4, 5]);
        assert_eq!(a.response.finish, FinishReason::Length);
        let short = r#"{"choices":[{"text":"a","token_ids":[4,5],
            "logprobs":{"token_logprobs":[-1.0]}}]}"#;
        assert!(
            parse_completion(short, vec![], &[])
                .unwrap_err()
                .contains("2 token ids")
        );
        let text_tokens =
            r#"{"choices":[{"text":"a","logprobs":{"tokens":["a"],"token_logprobs":[-1.0]}}]}"#;
        assert!(parse_completion(text_tokens, vec![], &[]).is_err());
        let no_logprobs = r#"{"choices":[{"text":"a","logprobs":null}]}"#;
        assert!(parse_completion(no_logprobs, vec![], &[]).is_err());
    }

    #[test]
    fn error_messages_are_the_servers_words_on_one_line() {
        assert_eq!(
            error_message(r#"{"error":{"message":"no such\nmodel"}}"#),
            "no such model"
        );
        assert_eq!(
            error_message(r#"{"detail":"prompt must be a string."}"#),
            "prompt must be a string."
        );
        assert_eq!(error_message("Bad Gateway"), "Bad Gateway");
        assert_eq!(error_message(""), "(empty body)");
        assert!(error_message(&"x".repeat(1000)).chars().count() <= 301);
    }

    #[test]
    fn models_lists_ids() {
        let body = r#"{"object":"list","data":[{"id":"a"},{"id":"b"}]}"#;
        assert_eq!(parse_models(body).unwrap(), ["a", "b"]);
        assert!(parse_models("[]").is_err());
    }
}
