//! What the wire costs: Sokoban steps through `lamer-host serve` (WebSocket,
//! OpenEnv's protocol, on loopback) at 1, 16 and 256 concurrent sessions,
//! next to the same steps called in-process on a sandboxed session. Prints a
//! Markdown table for BENCHMARKS.md.
//!
//!     cargo run --release -p lamer-host --example serve_bench
//!
//! The clients run in the same process as the server, on the same cores, so
//! the figures are what one machine does serving itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lamer_host::serve::{Envs, RunningServer, ServeConfig};
use lamer_plugin::{EnvFactory, Runtime, RuntimeConfig, SandboxLimits};
use lamer_sdk::Task;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message};

const ACTIONS: [&str; 4] = ["up", "left", "down", "right"];
/// Steps per measurement, split over the sessions.
const TOTAL_STEPS: usize = 51_200;

struct Figures {
    steps: usize,
    wall: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn row(&mut self, what: &str) -> String {
        self.latencies.sort();
        let at = |q: f64| {
            let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
            self.latencies[i].as_secs_f64() * 1e6
        };
        format!(
            "| {what} | {:.0} | {:.0} | {:.0} |",
            self.steps as f64 / self.wall.as_secs_f64(),
            at(0.5),
            at(0.99)
        )
    }
}

fn in_process(plugin: &dyn EnvFactory) -> Figures {
    let mut session = plugin.open("{}").expect("a session");
    session.reset(&Task::new("train", 0)).expect("reset");
    let mut latencies = Vec::with_capacity(TOTAL_STEPS);
    let start = Instant::now();
    for k in 0..TOTAL_STEPS {
        let t = Instant::now();
        let step = session.step(ACTIONS[k % 4]).expect("step");
        if step.done() {
            session.reset(&Task::new("train", k as u64)).expect("reset");
        }
        latencies.push(t.elapsed());
    }
    Figures {
        steps: TOTAL_STEPS,
        wall: start.elapsed(),
        latencies,
    }
}

fn call(
    socket: &mut tungstenite::WebSocket<impl std::io::Read + std::io::Write>,
    m: &Value,
) -> Value {
    socket.send(Message::text(m.to_string())).expect("send");
    loop {
        if let Message::Text(text) = socket.read().expect("read") {
            return serde_json::from_str(&text).expect("JSON");
        }
    }
}

fn client(addr: SocketAddr, seed: usize, steps: usize) -> Vec<Duration> {
    let (mut socket, _) = tungstenite::connect(format!("ws://{addr}/ws")).expect("connect");
    let reset = json!({"type": "reset", "data": {"seed": seed}});
    call(&mut socket, &reset);
    let mut latencies = Vec::with_capacity(steps);
    for k in 0..steps {
        let message = json!({"type": "step", "data": {"text": ACTIONS[k % 4]}});
        let t = Instant::now();
        let answer = call(&mut socket, &message);
        latencies.push(t.elapsed());
        assert_eq!(answer["type"], "observation", "{answer}");
        if answer["data"]["done"] == true {
            call(&mut socket, &reset);
        }
    }
    let _ = socket.close(None);
    latencies
}

fn through_server(addr: SocketAddr, sessions: usize) -> Figures {
    let steps = TOTAL_STEPS / sessions;
    let start = Instant::now();
    let clients: Vec<_> = (0..sessions)
        .map(|i| std::thread::spawn(move || client(addr, i, steps)))
        .collect();
    let latencies: Vec<Duration> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("a client"))
        .collect();
    Figures {
        steps: steps * sessions,
        wall: start.elapsed(),
        latencies,
    }
}

fn main() {
    let runtime = Runtime::new(RuntimeConfig::default()).expect("a runtime");
    let plugin = runtime
        .load(
            &lamer_tests::plugin_path("sokoban"),
            SandboxLimits::default(),
        )
        .expect("sokoban loads");
    let mut local = in_process(&plugin);
    let factory: Arc<dyn EnvFactory> = Arc::new(plugin);
    let envs = Envs::new(vec![factory]).expect("one plugin");
    let server = RunningServer::start("127.0.0.1:0".parse().unwrap(), envs, ServeConfig::default())
        .expect("the server starts");
    println!("| Sokoban steps | steps/s | p50 µs | p99 µs |");
    println!("|---|---:|---:|---:|");
    println!("{}", local.row("in-process (sandboxed session, no wire)"));
    for sessions in [1, 16, 256] {
        let mut figures = through_server(server.addr(), sessions);
        println!(
            "{}",
            figures.row(&format!("`serve`, WebSocket, {sessions} sessions"))
        );
    }
}
