//! The backend against a stand-in server: sampling passthrough, the
//! concurrency bound, retries on 429 / 500 / malformed JSON / truncated
//! bodies / dropped connections, deadlines, partial batches, and the
//! one-line setup errors. Everything runs on 127.0.0.1 with short deadlines
//! and backoffs, so no test waits long.

mod standin;

use std::time::Duration;

use lamer_openai::{OpenAiConfig, OpenAiError, OpenAiPolicy, WireMode};
use lamer_policy::{ChatMessage, Policy, PolicyError, PolicyRequest, RequestKind, SamplingParams};
use standin::{MODELS, Reply, StandIn, chat_answer};

fn config(url: &str) -> OpenAiConfig {
    let mut c = OpenAiConfig::new(url, "m");
    c.request_timeout = Duration::from_millis(1500);
    c.retries = 3;
    c.initial_backoff = Duration::from_millis(5);
    c.max_backoff = Duration::from_millis(20);
    c
}

fn request(text: &str, seed: u64) -> PolicyRequest {
    PolicyRequest {
        messages: vec![ChatMessage::user(text)],
        kind: RequestKind::Act,
        seed,
        admissible_actions: Vec::new(),
        expert_action: None,
    }
}

fn serve(decide: impl Fn(&standin::Request, usize) -> Reply + Send + Sync + 'static) -> StandIn {
    StandIn::start(Reply::ok(MODELS), Reply::ok(chat_answer("OK")), decide)
}

fn one(policy: &mut OpenAiPolicy) -> Result<String, PolicyError> {
    let sampling = SamplingParams::evaluation(32);
    policy
        .generate(&[request("Play.", 7)], &sampling)
        .map(|mut r| r.remove(0).text)
}

fn backend_message(error: PolicyError) -> String {
    match error {
        PolicyError::PartialBatch(batch) => batch.answers[0].clone().unwrap_err(),
        other => panic!("expected a partial batch, got {other}"),
    }
}

#[test]
fn chat_mode_passes_prompts_and_sampling_through() {
    let server = serve(|_, _| Reply::ok(chat_answer("<action>up</action>")));
    let mut c = config(&server.url);
    c.api_key = Some("sekret".into());
    c.stop = vec!["</action>".into()];
    let mut policy = OpenAiPolicy::connect(c).unwrap();
    assert_eq!(one(&mut policy).unwrap(), "<action>up</action>");
    let posts = server.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, "/v1/chat/completions");
    assert_eq!(posts[0].header("authorization"), Some("Bearer sekret"));
    let body = posts[0].json();
    assert_eq!(body["model"], "m");
    assert_eq!(body["messages"][0]["content"], "Play.");
    assert_eq!(body["max_tokens"], 32);
    assert_eq!(body["top_k"], 20);
    assert_eq!(body["seed"], 7);
    assert_eq!(body["stop"][0], "</action>");
    let usage = policy.usage().unwrap();
    assert_eq!(
        (usage.requests, usage.retries, usage.failed_requests),
        (1, 0, 0)
    );
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (10, 4));
    assert_eq!(policy.name(), "openai-chat:m");
}

#[test]
fn a_429_is_retried_and_then_succeeds() {
    let server = serve(|_, n| match n {
        0 => Reply::Json {
            status: 429,
            body: r#"{"error":{"message":"slow down"}}"#.into(),
            headers: vec![("retry-after".into(), "0".into())],
        },
        _ => Reply::ok(chat_answer("fine")),
    });
    let mut policy = OpenAiPolicy::connect(config(&server.url)).unwrap();
    assert_eq!(one(&mut policy).unwrap(), "fine");
    assert_eq!(server.posts().len(), 2);
    assert_eq!(policy.usage().unwrap().retries, 1);
}

#[test]
fn persistent_500s_fail_the_request_after_the_retries() {
    let server = serve(|_, _| Reply::status(500, r#"{"error":{"message":"boom"}}"#));
    let mut policy = OpenAiPolicy::connect(config(&server.url)).unwrap();
    let message = backend_message(one(&mut policy).unwrap_err());
    assert!(message.contains("HTTP 500"), "{message}");
    assert!(message.contains("boom"), "{message}");
    assert!(message.contains("after 4 attempts"), "{message}");
    assert_eq!(server.posts().len(), 4);
    let usage = policy.usage().unwrap();
    assert_eq!(
        (usage.requests, usage.retries, usage.failed_requests),
        (1, 3, 1)
    );
}

#[test]
fn a_400_is_not_retried() {
    let server = serve(|_, _| Reply::status(400, r#"{"detail":"prompt too long"}"#));
    let mut policy = OpenAiPolicy::connect(config(&server.url)).unwrap();
    let message = backend_message(one(&mut policy).unwrap_err());
    assert!(
        message.contains("HTTP 400") && message.contains("prompt too long"),
        "{message}"
    );
    assert_eq!(server.posts().len(), 1);
}

#[test]
fn malformed_json_is_retried() {
    let server = serve(|_, n| match n {
        0 => Reply::ok(r#"{"choices": [{"message": "#),
        _ => Reply::ok(chat_answer("fine")),
    });
    let mut policy = OpenAiPolicy::connect(config(&server.url)).unwrap();
    assert_eq!(one(&mut policy).unwrap(), "fine");
    assert_eq!(server.posts().len(), 2);
}

#[test]
fn always_malformed_json_fails_with_what_was_wrong() {
    let server = serve(|_, _| Reply::ok(r#"{"choices": []}"#));
    let mut c = config(&server.url);
    c.retries = 1;
    let mut policy = OpenAiPolicy::connect(c).unwrap();
    let message = backend_message(one(&mut policy).unwrap_err());
    assert!(message.contains("not what the API promises"), "{message}");
    assert!(message.contains("no choices[0]"), "{message}");
}

#[test]
fn a_truncated_body_is_retried() {
    let server = serve(|_, n| match n {
        0 => Reply::Truncated(r#"{"choices": [{"mes"#.into()),
        _ => Reply::ok(chat_answer("fine")),
    });
    let mut policy = OpenAiPolicy::connect(config(&server.url)).unwrap();
    assert_eq!(one(&mut policy).unwrap(), "fine");
    assert_eq!(server.posts().len(), 2);
}

#[test]
fn a_dropped_connection_is_retried() {
    let server = serve(|_, n| match n {
        0 | 1 => Reply::Drop,
        _ => Reply::ok(chat_answer("fine")),
    });
    let mut policy = OpenAiPolicy::connect(config(&server.url)).unwrap();
    assert_eq!(one(&mut policy).unwrap(), "fine");
    assert_eq!(server.posts().len(), 3);
    assert_eq!(policy.usage().unwrap().retries, 2);
}

#[test]
fn a_slow_answer_past_the_deadline_fails_instead_of_hanging() {
    let server = serve(|_, _| {
        Reply::Slow(
            Duration::from_millis(1500),
            Box::new(Reply::ok(chat_answer("late"))),
        )
    });
    let mut c = config(&server.url);
    c.request_timeout = Duration::from_millis(200);
    c.retries = 1;
    // The probe is answered at once; only the run's requests are slow.
    let mut policy = OpenAiPolicy::connect(c).unwrap();
    let message = backend_message(one(&mut policy).unwrap_err());
    assert!(message.contains("no complete answer within"), "{message}");
    assert_eq!(server.posts().len(), 2);
}

#[test]
fn a_slow_answer_within_the_deadline_is_fine() {
    let server = serve(|_, _| {
        Reply::Slow(
            Duration::from_millis(50),
            Box::new(Reply::ok(chat_answer("on time"))),
        )
    });
    let mut policy = OpenAiPolicy::connect(config(&server.url)).unwrap();
    assert_eq!(one(&mut policy).unwrap(), "on time");
}

#[test]
fn only_the_failed_requests_of_a_batch_fail_and_order_is_kept() {
    let server = serve(|r, _| {
        let prompt = r.json()["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if prompt == "fail" {
            Reply::status(503, "overloaded")
        } else {
            Reply::ok(chat_answer(&format!("answer to {prompt}")))
        }
    });
    let mut c = config(&server.url);
    c.retries = 1;
    let mut policy = OpenAiPolicy::connect(c).unwrap();
    let batch = [request("a", 1), request("fail", 2), request("c", 3)];
    let error = policy
        .generate(&batch, &SamplingParams::evaluation(8))
        .unwrap_err();
    let PolicyError::PartialBatch(partial) = error else {
        panic!("{error}")
    };
    assert_eq!(partial.answers.len(), 3);
    assert_eq!(partial.answers[0].as_ref().unwrap().text, "answer to a");
    assert!(
        partial.answers[1]
            .as_ref()
            .unwrap_err()
            .contains("HTTP 503")
    );
    assert_eq!(partial.answers[2].as_ref().unwrap().text, "answer to c");
    let usage = policy.usage().unwrap();
    assert_eq!((usage.requests, usage.failed_requests), (3, 1));
}

#[test]
fn no_more_than_max_concurrency_requests_are_in_flight() {
    let server = serve(|_, _| {
        Reply::Slow(
            Duration::from_millis(30),
            Box::new(Reply::ok(chat_answer("x"))),
        )
    });
    let mut c = config(&server.url);
    c.max_concurrency = 3;
    let mut policy = OpenAiPolicy::connect(c).unwrap();
    let batch: Vec<PolicyRequest> = (0..12).map(|i| request("p", i)).collect();
    let out = policy.generate(&batch, &SamplingParams::greedy(4)).unwrap();
    assert_eq!(out.len(), 12);
    let peak = server
        .peak_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=3).contains(&peak), "peak {peak}");
    // Every request's own seed went out with it.
    let mut seeds: Vec<u64> = server
        .posts()
        .iter()
        .map(|p| p.json()["seed"].as_u64().unwrap())
        .collect();
    seeds.sort();
    assert_eq!(seeds, (0..12).collect::<Vec<u64>>());
}

fn connect_error(c: OpenAiConfig) -> OpenAiError {
    match OpenAiPolicy::connect(c) {
        Ok(_) => panic!("connect should fail"),
        Err(e) => e,
    }
}

#[test]
fn setup_errors_are_one_clear_line() {
    // Nothing listens on a port we bound and released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = connect_error(config(&format!("http://127.0.0.1:{port}/v1")));
    assert!(matches!(e, OpenAiError::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains("is the server running"), "{e}");

    let e = connect_error(config("not a url"));
    assert!(
        matches!(
            e,
            OpenAiError::BadUrl { .. } | OpenAiError::Unreachable { .. }
        ),
        "{e}"
    );

    let auth = StandIn::start(
        Reply::status(401, r#"{"error":{"message":"Invalid API key"}}"#),
        Reply::ok(chat_answer("OK")),
        |_, _| Reply::ok(chat_answer("x")),
    );
    let e = connect_error(config(&auth.url));
    assert!(matches!(e, OpenAiError::Auth { status: 401, .. }), "{e}");
    assert!(e.to_string().contains("Invalid API key") && e.to_string().contains("--api-key-env"));

    let root = StandIn::start(
        Reply::status(404, "Not Found"),
        Reply::ok(chat_answer("OK")),
        |_, _| Reply::ok(chat_answer("x")),
    );
    let e = connect_error(config(&root.url));
    assert!(matches!(e, OpenAiError::NotAnApi { .. }), "{e}");

    let wrong = StandIn::start(
        Reply::ok(r#"{"object":"list","data":[{"id":"other"}]}"#),
        Reply::status(
            404,
            r#"{"error":{"message":"The model `m` does not exist."}}"#,
        ),
        |_, _| Reply::ok(chat_answer("x")),
    );
    let e = connect_error(config(&wrong.url));
    assert!(matches!(e, OpenAiError::UnknownModel { .. }), "{e}");
    assert!(
        e.to_string().contains("other") && e.to_string().contains("does not exist"),
        "{e}"
    );

    let text_only = StandIn::start(
        Reply::ok(MODELS),
        Reply::status(400, r#"{"detail":"prompt must be a string."}"#),
        |_, _| Reply::ok(chat_answer("x")),
    );
    let mut c = config(&text_only.url);
    c.mode = WireMode::TokenExact;
    c.tokenizer = Some(tiny_tokenizer());
    let e = connect_error(c);
    assert!(matches!(e, OpenAiError::NoTokenExact { .. }), "{e}");
    assert!(
        e.to_string().contains("prompt must be a string") && e.to_string().contains("--wire chat")
    );

    let mut c = config(&text_only.url);
    c.mode = WireMode::TokenExact;
    assert!(matches!(connect_error(c), OpenAiError::NoTokenizer));
}

fn tiny_tokenizer() -> lamer_policy::tokenizer::PolicyTokenizer {
    lamer_policy::tokenizer::PolicyTokenizer::new(lamer_policy::tiny::train_tokenizer().unwrap())
        .unwrap()
}

/// A token-exact answer in vLLM's format: tokens named `token_id:N`.
fn completion_answer(ids: &[u32], logprobs: &[f32], finish: &str) -> String {
    let tokens: Vec<String> = ids.iter().map(|i| format!("token_id:{i}")).collect();
    serde_json::json!({
        "id": "c", "object": "text_completion", "model": "m",
        "choices": [{"index": 0, "text": "hi", "finish_reason": finish,
                     "logprobs": {"tokens": tokens, "token_logprobs": logprobs,
                                  "top_logprobs": null, "text_offset": []}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": ids.len()}
    })
    .to_string()
}

#[test]
fn token_exact_mode_sends_our_prompt_ids_and_keeps_the_answers_ids() {
    let tokenizer = tiny_tokenizer();
    let im_end = tokenizer.token_to_id("<|im_end|>").unwrap();
    let probe = Reply::ok(completion_answer(&[5], &[-0.1], "length"));
    let server = StandIn::start(Reply::ok(MODELS), probe, move |_, _| {
        Reply::ok(completion_answer(
            &[40, 41, im_end],
            &[-0.5, -1.5, -0.25],
            "stop",
        ))
    });
    let mut c = config(&server.url);
    c.mode = WireMode::TokenExact;
    c.tokenizer = Some(tokenizer.clone());
    let mut policy = OpenAiPolicy::connect(c).unwrap();
    let req = request("Play.", 9);
    let out = policy
        .generate(std::slice::from_ref(&req), &SamplingParams::greedy(16))
        .unwrap();
    let expected_prompt = tokenizer
        .encode(&lamer_policy::chat::render_chat(&req.messages))
        .unwrap();
    assert_eq!(out[0].prompt_ids, expected_prompt);
    assert_eq!(out[0].response_ids, [40, 41]);
    assert_eq!(out[0].logprobs, [-0.5, -1.5]);
    assert_eq!(out[0].stop_token, Some(im_end));
    assert_eq!(out[0].stop_logprob, Some(-0.25));
    let post = &server.posts()[0];
    assert_eq!(post.path, "/v1/completions");
    let body = post.json();
    let sent: Vec<u32> = serde_json::from_value(body["prompt"].clone()).unwrap();
    assert_eq!(sent, expected_prompt);
    assert_eq!(body["logprobs"], 1);
    assert!(
        body["stop_token_ids"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(im_end))
    );
    assert_eq!(policy.name(), "openai-token-exact:m");
}
