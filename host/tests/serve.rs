//! `lamer-host serve` under hostile conditions: plugins that loop or run out
//! of memory while other clients step, clients that vanish mid-episode,
//! malformed and oversized requests, capacity and idle timeouts. In every case
//! the one session answers a typed error (or is dropped) and the server and
//! the other sessions go on.

mod serve_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lamer_host::serve::{Envs, RunningServer, ServeConfig};
use lamer_plugin::{EnvFactory, Runtime, RuntimeConfig, SandboxLimits};
use serde_json::{Value, json};
use serve_common::{eventually, http, metric, ws, ws_call, ws_read};
use tokio_tungstenite::tungstenite::Message;

/// Sokoban (the default) and the hostile plugin, with a short deadline and a
/// small memory cap so the attacks end quickly.
fn start(config: ServeConfig) -> RunningServer {
    let runtime = Runtime::new(RuntimeConfig::default()).expect("a runtime");
    let limits = SandboxLimits {
        call_timeout: Duration::from_millis(300),
        memory_bytes: 64 << 20,
        ..SandboxLimits::default()
    };
    let factories: Vec<Arc<dyn EnvFactory>> = ["sokoban", "hostile"]
        .iter()
        .map(|name| {
            let plugin = runtime
                .load(&lamer_tests::plugin_path(name), limits.clone())
                .expect("the plugin loads");
            Arc::new(plugin) as Arc<dyn EnvFactory>
        })
        .collect();
    let envs = Envs::new(factories).expect("distinct names");
    RunningServer::start("127.0.0.1:0".parse().unwrap(), envs, config).expect("the server starts")
}

fn healthy(addr: SocketAddr) -> bool {
    http(addr, "GET", "/health", b"") == (200, json!({"status": "healthy"}))
}

/// Plays `steps` Sokoban steps over one WebSocket; how many answers were errors.
fn sokoban_client(addr: SocketAddr, seed: u64, steps: usize) -> usize {
    let mut socket = ws(addr);
    let mut errors = 0;
    let reset = || json!({"type": "reset", "data": {"seed": seed}});
    let answer = ws_call(&mut socket, &reset());
    errors += usize::from(answer["type"] == "error");
    for k in 0..steps {
        let action = ["up", "left", "down", "right"][k % 4];
        let answer = ws_call(
            &mut socket,
            &json!({"type": "step", "data": {"text": action}}),
        );
        errors += usize::from(answer["type"] == "error");
        if answer["data"]["done"] == true {
            ws_call(&mut socket, &reset());
        }
    }
    let _ = socket.close(None);
    errors
}

fn hostile_reset(attack: &str) -> Value {
    json!({"type": "reset", "data": {"env": "hostile", "config": {"attack": attack}, "seed": 0}})
}

#[test]
fn a_looping_plugin_times_out_its_own_session_while_others_step() {
    let server = start(ServeConfig::default());
    let addr = server.addr();
    let others: Vec<_> = (0..4)
        .map(|i| std::thread::spawn(move || sokoban_client(addr, i, 150)))
        .collect();
    let mut hostile = ws(addr);
    for _ in 0..3 {
        let reset = ws_call(&mut hostile, &hostile_reset("infinite-loop"));
        assert_eq!(reset["type"], "observation", "{reset}");
        let step = ws_call(
            &mut hostile,
            &json!({"type": "step", "data": {"text": "go"}}),
        );
        assert_eq!(step["type"], "error", "{step}");
        assert_eq!(step["data"]["code"], "PLUGIN_TIMEOUT", "{step}");
    }
    for other in others {
        assert_eq!(
            other.join().expect("a client thread"),
            0,
            "other sessions saw errors"
        );
    }
    assert!(healthy(addr));
    assert!(metric(addr, "lamer_errors_total{code=\"PLUGIN_TIMEOUT\"}") >= 3.0);
}

#[test]
fn a_plugin_out_of_memory_answers_a_typed_error_and_the_next_reset_works() {
    let server = start(ServeConfig::default());
    let addr = server.addr();
    let other = std::thread::spawn(move || sokoban_client(addr, 9, 100));
    let mut hostile = ws(addr);
    ws_call(&mut hostile, &hostile_reset("memory-bomb"));
    let step = ws_call(
        &mut hostile,
        &json!({"type": "step", "data": {"text": "go"}}),
    );
    assert_eq!(step["data"]["code"], "PLUGIN_OUT_OF_MEMORY", "{step}");
    let after = ws_call(
        &mut hostile,
        &json!({"type": "step", "data": {"text": "go"}}),
    );
    assert_eq!(
        after["data"]["code"], "ENV_ERROR",
        "a dropped sandbox needs a reset: {after}"
    );
    let reset = ws_call(&mut hostile, &hostile_reset("none"));
    assert_eq!(reset["type"], "observation", "{reset}");
    let fine = ws_call(
        &mut hostile,
        &json!({"type": "step", "data": {"text": "go"}}),
    );
    assert_eq!(fine["type"], "observation", "{fine}");
    assert_eq!(other.join().expect("a client thread"), 0);
    // A trap over HTTP: the same typed error, as a 500.
    let (status, reset) = http(
        addr,
        "POST",
        "/reset",
        br#"{"env": "hostile", "config": {"attack": "panic"}, "seed": 0}"#,
    );
    assert_eq!(status, 200, "{reset}");
    let id = reset["session_id"]
        .as_str()
        .expect("a session id")
        .to_string();
    let body = json!({"session_id": id, "action": "go"}).to_string();
    let (status, error) = http(addr, "POST", "/step", body.as_bytes());
    assert_eq!(
        (status, error["code"].clone()),
        (500, json!("PLUGIN_TRAP")),
        "{error}"
    );
    assert!(healthy(addr));
}

#[test]
fn a_client_that_disconnects_mid_episode_frees_its_session() {
    let server = start(ServeConfig::default());
    let addr = server.addr();
    for _ in 0..5 {
        let mut socket = ws(addr);
        ws_call(&mut socket, &json!({"type": "reset", "data": {"seed": 3}}));
        ws_call(
            &mut socket,
            &json!({"type": "step", "data": {"text": "up"}}),
        );
        // A step in flight, then the connection vanishes without a close frame.
        socket
            .send(Message::text(
                json!({"type": "step", "data": {"text": "up"}}).to_string(),
            ))
            .expect("send");
        drop(socket);
    }
    assert!(
        eventually(Duration::from_secs(10), || metric(
            addr,
            "lamer_sessions_open "
        ) == 0.0),
        "every abandoned session is closed"
    );
    assert_eq!(metric(addr, "lamer_sessions_opened_total "), 5.0);
    assert_eq!(sokoban_client(addr, 1, 20), 0);
}

#[test]
fn malformed_and_oversized_requests_answer_typed_errors() {
    let server = start(ServeConfig {
        max_request_bytes: 4096,
        ..ServeConfig::default()
    });
    let addr = server.addr();
    let cases: [(&[u8], u16, &str); 5] = [
        (b"{\"seed\": ", 400, "INVALID_JSON"),
        (b"{\"seed\": \"seven\"}", 422, "VALIDATION_ERROR"),
        (b"{\"seed\": 1, \"index\": 2}", 422, "VALIDATION_ERROR"),
        (b"{\"env\": \"chess\"}", 422, "UNKNOWN_ENV"),
        (b"[1, 2, 3]", 422, "VALIDATION_ERROR"),
    ];
    for (body, status, code) in cases {
        let (got, answer) = http(addr, "POST", "/reset", body);
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{answer}"
        );
    }
    let huge = format!("{{\"action\": \"{}\"}}", "x".repeat(10_000));
    let (status, answer) = http(addr, "POST", "/step", huge.as_bytes());
    assert_eq!(
        (status, answer["code"].clone()),
        (413, json!("PAYLOAD_TOO_LARGE"))
    );
    let (status, answer) = http(addr, "POST", "/step", br#"{"action": "up"}"#);
    assert_eq!(
        (status, answer["code"].clone()),
        (422, json!("SESSION_REQUIRED"))
    );

    let mut socket = ws(addr);
    socket.send(Message::text("{oops")).expect("send");
    assert_eq!(ws_read(&mut socket)["data"]["code"], "INVALID_JSON");
    let unknown = ws_call(&mut socket, &json!({"type": "teleport"}));
    assert_eq!(unknown["data"]["code"], "UNKNOWN_TYPE");
    let early = ws_call(
        &mut socket,
        &json!({"type": "step", "data": {"text": "up"}}),
    );
    assert_eq!(early["data"]["code"], "ENV_ERROR");
    let reset = ws_call(&mut socket, &json!({"type": "reset", "data": {"seed": 1}}));
    assert_eq!(
        reset["type"], "observation",
        "the connection survives bad messages"
    );
    // An oversized message drops that connection only.
    let _ = socket.send(Message::text(huge));
    let dropped = (0..3).any(|_| socket.read().is_err());
    assert!(dropped, "the oversized message closes the connection");
    assert!(healthy(addr));
    assert_eq!(sokoban_client(addr, 2, 10), 0);
}

#[test]
fn past_capacity_the_server_answers_capacity_reached() {
    let server = start(ServeConfig {
        max_sessions: 2,
        ..ServeConfig::default()
    });
    let addr = server.addr();
    let mut first = ws(addr);
    let (status, _) = http(addr, "POST", "/reset", b"{}");
    assert_eq!(status, 200);
    ws_call(&mut first, &json!({"type": "reset", "data": {}}));
    let mut third = ws(addr);
    let refused = ws_read(&mut third);
    assert_eq!(refused["data"]["code"], "CAPACITY_REACHED", "{refused}");
    assert_eq!(refused["data"]["capacity"]["max_sessions"], 2);
    let (status, answer) = http(addr, "POST", "/reset", b"{}");
    assert_eq!(
        (status, answer["code"].clone()),
        (503, json!("CAPACITY_REACHED"))
    );
    first.close(None).expect("close");
    let _ = first.read();
    assert!(eventually(Duration::from_secs(10), || {
        http(addr, "POST", "/reset", b"{}").0 == 200
    }));
}

#[test]
fn idle_http_sessions_are_reaped() {
    let server = start(ServeConfig {
        idle_timeout: Duration::from_secs(1),
        ..ServeConfig::default()
    });
    let addr = server.addr();
    let (_, reset) = http(addr, "POST", "/reset", br#"{"seed": 4}"#);
    let id = reset["session_id"]
        .as_str()
        .expect("a session id")
        .to_string();
    assert!(eventually(Duration::from_secs(10), || {
        metric(addr, "lamer_sessions_closed_total{reason=\"idle\"}") == 1.0
    }));
    let body = json!({"session_id": id, "action": "up"}).to_string();
    let (status, answer) = http(addr, "POST", "/step", body.as_bytes());
    assert_eq!(
        (status, answer["code"].clone()),
        (404, json!("UNKNOWN_SESSION"))
    );
    // An idle WebSocket is closed too.
    let mut socket = ws(addr);
    let closing = ws_read(&mut socket);
    assert_eq!(closing["data"]["code"], "IDLE_TIMEOUT", "{closing}");
    assert_eq!(metric(addr, "lamer_sessions_open "), 0.0);
}

#[test]
fn a_session_plays_restarts_and_closes_over_plain_http() {
    let server = start(ServeConfig::default());
    let addr = server.addr();
    let (status, reset) = http(addr, "POST", "/reset", br#"{"split": "test", "index": 4}"#);
    assert_eq!(status, 200, "{reset}");
    let id = reset["session_id"]
        .as_str()
        .expect("a session id")
        .to_string();
    let session = json!({"session_id": id}).to_string();
    let (_, actions) = http(addr, "POST", "/admissible_actions", session.as_bytes());
    assert!(
        actions["admissible_actions"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    let (_, expert) = http(addr, "POST", "/expert_action", session.as_bytes());
    let action = expert["expert_action"]
        .as_str()
        .expect("sokoban has an expert");
    let step = json!({"session_id": id, "action": {"text": action}, "request_id": "r1"});
    let (status, stepped) = http(addr, "POST", "/step", step.to_string().as_bytes());
    assert_eq!(status, 200, "{stepped}");
    assert_eq!(stepped["request_id"], "r1");
    assert_eq!(stepped["observation"]["step_count"], 1);
    let (_, state) = http(addr, "GET", &format!("/state?session_id={id}"), b"");
    assert_eq!(state["step_count"], 1);
    assert_eq!(state["task"], json!({"split": "test", "index": 4}));
    let (_, restarted) = http(addr, "POST", "/restart", session.as_bytes());
    assert_eq!(restarted["observation"], reset["observation"]);
    let (status, _) = http(addr, "POST", "/close", session.as_bytes());
    assert_eq!(status, 200);
    assert_eq!(metric(addr, "lamer_sessions_open "), 0.0);
}
