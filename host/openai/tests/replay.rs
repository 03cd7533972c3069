//! The backend against answers recorded from a real server we did not write
//! (`transformers serve` 5.24 serving the tiny model; recorded by
//! bench/openai/record_fixtures.py, see bench/openai/live.sh --record):
//! a chat answer is read as the server wrote it, and the server's own
//! refusals (a wrong model name, top_k, token-id prompts) become the
//! one-line setup errors.

mod standin;

use std::time::Duration;

use lamer_openai::{OpenAiConfig, OpenAiError, OpenAiPolicy, WireMode};
use lamer_policy::{ChatMessage, FinishReason, Policy, PolicyRequest, RequestKind, SamplingParams};
use serde_json::Value;
use standin::{Reply, StandIn};

const SERVED: &str = "/tmp/tiny-served";

fn fixture(name: &str) -> Value {
    let text = match name {
        "models" => include_str!("fixtures/transformers-serve/models.json"),
        "chat" => include_str!("fixtures/transformers-serve/chat.json"),
        "chat_probe" => include_str!("fixtures/transformers-serve/chat_probe.json"),
        "chat_wrong_model" => include_str!("fixtures/transformers-serve/chat_wrong_model.json"),
        "chat_top_k" => include_str!("fixtures/transformers-serve/chat_top_k.json"),
        "completions_token_ids" => {
            include_str!("fixtures/transformers-serve/completions_token_ids.json")
        }
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).expect("fixture JSON")
}

fn reply(name: &str) -> Reply {
    let f = fixture(name);
    let status = f["status"].as_u64().expect("status") as u16;
    Reply::status(status, f["body"].as_str().expect("body"))
}

/// Answers as the recorded server did, choosing the recording by what the
/// request asks (the server's checks, in its order).
fn recorded_server() -> StandIn {
    let decide = |r: &standin::Request| {
        let body = r.json();
        if r.path.ends_with("/completions") && !r.path.ends_with("/chat/completions") {
            reply("completions_token_ids")
        } else if body.get("top_k").is_some() {
            reply("chat_top_k")
        } else if body["model"] != SERVED {
            reply("chat_wrong_model")
        } else if r.is_probe() {
            reply("chat_probe")
        } else {
            reply("chat")
        }
    };
    StandIn::replay(reply("models"), decide)
}

fn config(url: &str, model: &str) -> OpenAiConfig {
    let mut c = OpenAiConfig::new(url, model);
    c.request_timeout = Duration::from_secs(5);
    c.initial_backoff = Duration::from_millis(5);
    c.send_top_k = false;
    c
}

fn connect_error(c: OpenAiConfig) -> OpenAiError {
    match OpenAiPolicy::connect(c) {
        Ok(_) => panic!("connect should fail"),
        Err(e) => e,
    }
}

#[test]
fn a_recorded_chat_answer_is_read_as_the_server_wrote_it() {
    let server = recorded_server();
    let mut policy = OpenAiPolicy::connect(config(&server.url, SERVED)).unwrap();
    let request = PolicyRequest {
        messages: vec![ChatMessage::user("Play.")],
        kind: RequestKind::Act,
        seed: 7,
        admissible_actions: Vec::new(),
        expert_action: None,
    };
    let out = policy
        .generate(&[request], &SamplingParams::evaluation(24))
        .unwrap();
    let recorded: Value = serde_json::from_str(fixture("chat")["body"].as_str().unwrap()).unwrap();
    let choice = &recorded["choices"][0];
    assert_eq!(out[0].text, choice["message"]["content"].as_str().unwrap());
    let finish = if choice["finish_reason"] == "length" {
        FinishReason::Length
    } else {
        FinishReason::Stop
    };
    assert_eq!(out[0].finish, finish);
    assert!(out[0].prompt_ids.is_empty() && out[0].response_ids.is_empty());
    let usage = policy.usage().unwrap();
    assert_eq!(
        usage.prompt_tokens,
        recorded["usage"]["prompt_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        usage.completion_tokens,
        recorded["usage"]["completion_tokens"].as_u64().unwrap()
    );
}

#[test]
fn the_real_servers_refusals_become_setup_errors() {
    let server = recorded_server();

    let e = connect_error(config(&server.url, "no-such-model"));
    assert!(matches!(e, OpenAiError::UnknownModel { .. }), "{e}");
    assert!(e.to_string().contains("pinned"), "{e}");

    let mut c = config(&server.url, SERVED);
    c.send_top_k = true;
    let e = connect_error(c);
    assert!(matches!(e, OpenAiError::RejectsTopK { .. }), "{e}");
    assert!(e.to_string().contains("--omit-top-k"), "{e}");

    let mut c = config(&server.url, SERVED);
    c.mode = WireMode::TokenExact;
    c.tokenizer = Some(
        lamer_policy::tokenizer::PolicyTokenizer::new(
            lamer_policy::tiny::train_tokenizer().unwrap(),
        )
        .unwrap(),
    );
    let e = connect_error(c);
    assert!(matches!(e, OpenAiError::NoTokenExact { .. }), "{e}");
    assert!(e.to_string().contains("HTTP 422"), "{e}");
}
