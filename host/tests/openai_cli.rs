//! `lamer-host eval --policy openai` end to end against a stand-in server on
//! 127.0.0.1: a run that the server answers writes the report and the
//! backend's costs and exits 0; a run whose requests the backend finally
//! fails reports them as failed by the backend and exits non-zero.

#[path = "../openai/tests/standin/mod.rs"]
mod standin;

use std::process::Command;

use standin::{MODELS, Reply, StandIn, chat_answer};

fn eval(server: &StandIn, out: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lamer-host"))
        .args(["eval", "--plugin"])
        .arg(lamer_tests::plugin_path("keydoor"))
        .args([
            "--policy",
            "openai",
            "--base-url",
            &server.url,
            "--model",
            "m",
        ])
        .args([
            "--tasks",
            "2",
            "--attempts",
            "2",
            "--retries",
            "1",
            "--no-progress",
        ])
        .arg("--out")
        .arg(out)
        .output()
        .expect("run lamer-host")
}

fn json(path: std::path::PathBuf) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("JSON")
}

#[test]
fn an_answered_eval_reports_the_backend_and_its_costs() {
    let server = StandIn::start(Reply::ok(MODELS), Reply::ok(chat_answer("OK")), |_, _| {
        Reply::ok(chat_answer("<action>open 1</action>"))
    });
    let dir = tempfile::tempdir().unwrap();
    let output = eval(&server, dir.path());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(dir.path().join("report.json"));
    assert_eq!(report["policy"], "openai-chat:m");
    assert_eq!(report["backend_failed_trials"], 0);
    let timing = json(dir.path().join("timing.json"));
    let requests = timing["requests"].as_u64().unwrap();
    assert_eq!(requests, server.posts().len() as u64);
    assert_eq!(requests, report["llm_calls"].as_u64().unwrap());
    assert_eq!(timing["completion_tokens"].as_u64().unwrap(), 4 * requests);
    assert!(timing["tokens_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn an_eval_whose_backend_fails_exits_non_zero_and_says_why() {
    // Every request of the run fails for good (after one retry).
    let server = StandIn::start(Reply::ok(MODELS), Reply::ok(chat_answer("OK")), |_, _| {
        Reply::status(500, r#"{"error":{"message":"engine crashed"}}"#)
    });
    let dir = tempfile::tempdir().unwrap();
    let output = eval(&server, dir.path());
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("failed in the policy backend"), "{stderr}");
    assert!(stderr.contains("engine crashed"), "{stderr}");
    let report = json(dir.path().join("report.json"));
    assert_eq!(report["backend_failed_trials"], 2);
    assert_eq!(report["failed_trials"], 2);
    let timing = json(dir.path().join("timing.json"));
    assert_eq!(timing["failed_requests"], 2);
    assert_eq!(timing["retries"], 2);
}

#[test]
fn a_dead_url_is_one_line_and_a_non_zero_exit() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_lamer-host"))
        .args(["eval", "--plugin"])
        .arg(lamer_tests::plugin_path("keydoor"))
        .args([
            "--policy",
            "openai",
            "--model",
            "m",
            "--no-progress",
            "--base-url",
        ])
        .arg(format!("http://127.0.0.1:{port}/v1"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot reach") && stderr.contains("is the server running"),
        "{stderr}"
    );
}
