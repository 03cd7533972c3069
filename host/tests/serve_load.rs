//! A bounded load test of `lamer-host serve` on loopback: 256 concurrent
//! WebSocket sessions × 200 Sokoban steps, several rounds, against the real
//! binary in its own process. It holds when every answer is an observation,
//! every session is closed after each round, and the server's resident memory
//! stays flat from the second round on (sessions do not leak).

mod serve_common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use serve_common::{eventually, metric, ws, ws_call};

const SESSIONS: usize = 256;
const STEPS: usize = 200;
const ROUNDS: usize = 4;

/// The server process; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lamer-host"))
        .args(["serve", "--bind", "127.0.0.1:0", "--max-sessions"])
        .arg(SESSIONS.to_string())
        .arg("--plugin")
        .arg(lamer_tests::plugin_path("sokoban"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("lamer-host serve starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the serving line");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    Server { child, addr }
}

/// The server's resident set size, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("procfs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

/// One client: reset, then `STEPS` steps (resetting when an episode ends);
/// how many answers were not observations.
fn client(addr: SocketAddr, seed: usize) -> usize {
    let mut socket = ws(addr);
    let mut bad = 0;
    let reset = json!({"type": "reset", "data": {"seed": seed}});
    bad += usize::from(ws_call(&mut socket, &reset)["type"] != "observation");
    for k in 0..STEPS {
        let action = ["up", "left", "down", "right"][(k + seed) % 4];
        let answer = ws_call(
            &mut socket,
            &json!({"type": "step", "data": {"text": action}}),
        );
        bad += usize::from(answer["type"] != "observation");
        if answer["data"]["done"] == true {
            bad += usize::from(ws_call(&mut socket, &reset)["type"] != "observation");
        }
    }
    let _ = socket.close(None);
    let _ = socket.read();
    bad
}

fn round(addr: SocketAddr, round: usize) -> usize {
    let clients: Vec<_> = (0..SESSIONS)
        .map(|i| std::thread::spawn(move || client(addr, round * SESSIONS + i)))
        .collect();
    clients
        .into_iter()
        .map(|c| c.join().expect("a client thread"))
        .sum()
}

#[test]
fn many_websocket_sessions_step_without_errors_or_leaks() {
    let server = start();
    let pid = server.child.id();
    let mut rss = Vec::new();
    for r in 0..ROUNDS {
        assert_eq!(
            round(server.addr, r),
            0,
            "round {r}: every answer is an observation"
        );
        assert!(
            eventually(Duration::from_secs(20), || metric(
                server.addr,
                "lamer_sessions_open "
            ) == 0.0),
            "round {r}: every session is closed afterwards"
        );
        rss.push(rss_kib(pid));
    }
    eprintln!("server RSS after each round (KiB): {rss:?}");
    let steps = metric(server.addr, "lamer_steps_total ");
    assert_eq!(steps, (SESSIONS * STEPS * ROUNDS) as f64);
    assert_eq!(
        metric(server.addr, "lamer_sessions_opened_total "),
        (SESSIONS * ROUNDS) as f64
    );
    // From the second round on, memory stays within 10 % (+16 MiB) of where
    // it was: a leak of even 64 KiB per session would add 16 MiB per round.
    let base = rss[1];
    let last = rss[ROUNDS - 1];
    assert!(
        last <= base + base / 10 + 16 * 1024,
        "server RSS grew from {base} KiB to {last} KiB over the rounds: {rss:?}"
    );
}
