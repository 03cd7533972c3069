//! # A hostile plugin, for sandbox tests
//!
//! An ordinary SDK environment whose `step` carries out one attack, chosen by
//! the session config: `{"attack": "infinite-loop"}`. Attacks that must be
//! *stopped* by the host (loops, memory, stack, panics, huge output) trap or
//! run out of a limit; attacks that must be *refused* (reading files, the
//! environment, opening sockets) run inside the guest and report what they saw
//! through the observation, so the host test can check that nothing leaked.
//!
//! Attacks: `none`, `infinite-loop`, `memory-bomb`, `deep-recursion`, `panic`,
//! `huge-output` (an observation of `bytes` bytes), `stderr-flood` (`bytes` of
//! stderr, then a panic), `probe-files`, `probe-env`, `probe-network`,
//! `probe-data-dir` (read `/data/<file>`, then try to write there),
//! `escape-codes`, `panic-escape`, `prompt-loop` (loop in `prompt`),
//! `sleep` (`std::thread::sleep` for `millis`, then report the clock),
//! `sleep-forever` (sleep an hour, again and again), `poll-forever` (libc
//! `poll` with a timer, again and again: `wasi:io/poll.poll`) and
//! `clock-and-random` (reset and step report the wall clock, the monotonic
//! clock and `getentropy` bytes; episodes end normally) and `read-stdin`
//! (read stdin to its end, which must come at once).
//!
//! `max_turns` sets the episode's turn limit: with `u32::MAX` an episode
//! never ends, for the host's turn cap.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lamer_sdk::*;
use serde::{Deserialize, Serialize};

/// Session config: which attack `step` performs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub attack: String,
    /// Size for `huge-output` and `stderr-flood`.
    pub bytes: u64,
    /// File read by `probe-data-dir`, relative to `/data`.
    pub file: String,
    /// How long `sleep` sleeps, in milliseconds.
    pub millis: u64,
    /// The episode's turn limit.
    pub max_turns: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            attack: "none".into(),
            bytes: 100_000_000,
            file: "hello.txt".into(),
            millis: 3_600_000,
            max_turns: 10,
        }
    }
}

const ATTACKS: &[&str] = &[
    "none",
    "infinite-loop",
    "memory-bomb",
    "deep-recursion",
    "panic",
    "huge-output",
    "stderr-flood",
    "probe-files",
    "probe-env",
    "probe-network",
    "probe-data-dir",
    "escape-codes",
    "panic-escape",
    "prompt-loop",
    "sleep",
    "sleep-forever",
    "poll-forever",
    "clock-and-random",
    "read-stdin",
];

/// The environment: it only ever attacks.
#[derive(Debug, Clone)]
pub struct Hostile {
    config: Config,
}

fn infinite_loop() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

fn memory_bomb() -> usize {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Touch every page so nothing is optimised away.
        hoard.push(black_box(vec![0xA5; 1 << 20]));
        black_box(&hoard);
    }
}

fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 64]);
    if black_box(depth) == u64::MAX {
        return frame[0];
    }
    recurse(depth + 1).wrapping_add(frame[depth as usize % 64])
}

unsafe extern "C" {
    /// wasi-libc's `getentropy`: `wasi:random/random.get-random-bytes`.
    fn getentropy(buffer: *mut u8, len: usize) -> i32;
    /// wasi-libc's `poll`: with no descriptors and a timeout it subscribes to
    /// a monotonic-clock timer and waits on it with `wasi:io/poll.poll`.
    fn poll(fds: *mut u8, nfds: usize, timeout_ms: i32) -> i32;
}

/// Sleeps, then says how far the guest's clocks moved meanwhile.
fn sleep(millis: u64) -> String {
    let start = Instant::now();
    let wall = SystemTime::now();
    std::thread::sleep(Duration::from_millis(millis));
    let wall_moved = SystemTime::now()
        .duration_since(wall)
        .unwrap_or(Duration::ZERO);
    format!(
        "slept {millis} ms; monotonic clock moved {} ms, wall clock {} ms",
        start.elapsed().as_millis(),
        wall_moved.as_millis()
    )
}

fn poll_forever() -> ! {
    loop {
        // SAFETY: no descriptors are passed (a null list of length 0).
        black_box(unsafe { poll(std::ptr::null_mut(), 0, i32::MAX) });
    }
}

/// What the guest's clocks and random source say now.
fn clock_and_random() -> String {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut bytes = [0u8; 8];
    // SAFETY: `bytes` is a writable buffer of the length given.
    let status = unsafe { getentropy(bytes.as_mut_ptr(), bytes.len()) };
    let mut random = String::new();
    for b in bytes {
        let _ = write!(random, "{b:02x}");
    }
    format!(
        "wall {wall} ns; monotonic {:?}; random {random} ({status})",
        Instant::now()
    )
}

/// Describes an `io::Result` without leaking more than its first line.
fn outcome<T>(what: &str, result: std::io::Result<T>, show: impl Fn(&T) -> String) -> String {
    match result {
        Ok(value) => format!("{what}: OK {}\n", show(&value)),
        Err(e) => format!("{what}: denied ({:?})\n", e.kind()),
    }
}

fn probe_files() -> String {
    let mut report = String::new();
    for path in ["/etc/passwd", "/proc/self/environ", "./Cargo.toml", "/data"] {
        report += &outcome(&format!("read {path}"), std::fs::read(path), |b| {
            format!("{} bytes", b.len())
        });
    }
    for dir in ["/", ".", "/etc", "/tmp"] {
        report += &outcome(&format!("list {dir}"), std::fs::read_dir(dir), |d| {
            let _ = d;
            "listing opened".into()
        });
    }
    report += &outcome(
        "write /tmp/lamer-hostile",
        std::fs::write("/tmp/lamer-hostile", b"x"),
        |_| String::new(),
    );
    report
}

fn probe_env() -> String {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let args: Vec<String> = std::env::args().collect();
    let mut report = format!("env vars: {}\nargs: {}\n", vars.len(), args.len());
    for (key, value) in &vars {
        let _ = writeln!(report, "var {key}={value}");
    }
    for key in ["HOME", "PATH", "USER"] {
        let _ = writeln!(report, "{key}: {:?}", std::env::var(key).ok());
    }
    let _ = writeln!(
        report,
        "cwd: {:?}",
        std::env::current_dir()
            .map(|d| d.display().to_string())
            .ok()
    );
    report
}

fn probe_network() -> String {
    use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
    let mut report = String::new();
    report += &outcome(
        "tcp connect 127.0.0.1:80",
        TcpStream::connect("127.0.0.1:80"),
        |_| "connected".into(),
    );
    report += &outcome(
        "tcp connect 1.1.1.1:443",
        TcpStream::connect("1.1.1.1:443"),
        |_| "connected".into(),
    );
    report += &outcome(
        "tcp listen 127.0.0.1:0",
        TcpListener::bind("127.0.0.1:0"),
        |_| "listening".into(),
    );
    report += &outcome("udp bind 0.0.0.0:0", UdpSocket::bind("0.0.0.0:0"), |_| {
        "bound".into()
    });
    report += &outcome(
        "dns lookup localhost:80",
        "localhost:80".to_socket_addrs(),
        |a| format!("{} addresses", a.len()),
    );
    report
}

fn probe_data_dir(file: &str) -> String {
    let path = format!("{DATA_DIR}/{file}");
    let mut report = String::new();
    report += &match std::fs::read_to_string(&path) {
        Ok(text) => format!("read {path}: OK {text:?}\n"),
        Err(e) => format!("read {path}: denied ({:?})\n", e.kind()),
    };
    report += &outcome(
        &format!("write {DATA_DIR}/written.txt"),
        std::fs::write(format!("{DATA_DIR}/written.txt"), b"pwned"),
        |_| String::new(),
    );
    report += &outcome(
        &format!("remove {path}"),
        std::fs::remove_file(&path),
        |_| String::new(),
    );
    report += &outcome("read ../ of /data", std::fs::read_dir("/data/.."), |_| {
        "listing opened".into()
    });
    report
}

impl Environment for Hostile {
    type Config = Config;

    fn info() -> EnvInfo {
        EnvInfo::new(
            "hostile",
            "0.1.0",
            "A plugin that attacks its host; for sandbox tests only.",
            10,
        )
        .with_split(SplitInfo::procedural("train", "Any seed.", 1 << 16))
    }

    fn open(config: Config) -> Result<Self, EnvError> {
        if !ATTACKS.contains(&config.attack.as_str()) {
            return Err(EnvError::InvalidConfig(format!(
                "unknown attack `{}`; known: {}",
                config.attack,
                ATTACKS.join(", ")
            )));
        }
        Ok(Hostile { config })
    }

    fn max_turns(&self) -> u32 {
        self.config.max_turns
    }

    fn reset(&mut self, _task: &Task) -> Result<ResetResult, EnvError> {
        let mut observation = format!("armed with {}", self.config.attack);
        if self.config.attack == "clock-and-random" {
            observation += &format!("; {}", clock_and_random());
        }
        Ok(ResetResult::new(observation))
    }

    fn step(&mut self, _action: &str) -> Result<Step, EnvError> {
        let observation = match self.config.attack.as_str() {
            "infinite-loop" => infinite_loop(),
            "memory-bomb" => format!("hoarded {}", memory_bomb()),
            "deep-recursion" => format!("depth {}", recurse(0)),
            "panic" => panic!("guest panicked on purpose"),
            // Terminal escape sequences: clear the screen, recolour, move the
            // cursor, ring the bell, and a second line.
            "escape-codes" => "\x1b[2J\x1b[31mred\x1b[0m\x1b[H\x07 board\nrow 2\r".to_string(),
            "panic-escape" => panic!("\x1b[2Jscreen cleared\nsecond line\x1b]0;title\x07"),
            "huge-output" => "x".repeat(self.config.bytes as usize),
            "stderr-flood" => {
                let line = "flooding stderr with junk\n";
                for _ in 0..(self.config.bytes as usize / line.len()) {
                    eprint!("{line}");
                }
                panic!("guest panicked after flooding stderr");
            }
            "probe-files" => probe_files(),
            "probe-env" => probe_env(),
            "probe-network" => probe_network(),
            "probe-data-dir" => probe_data_dir(&self.config.file),
            "sleep" => sleep(self.config.millis),
            "sleep-forever" => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
            "poll-forever" => poll_forever(),
            "clock-and-random" => clock_and_random(),
            "read-stdin" => {
                let mut input = Vec::new();
                let read = std::io::Read::read_to_end(&mut std::io::stdin(), &mut input);
                outcome("read stdin", read, |n| format!("{n} bytes"))
            }
            _ => "nothing happened".to_string(),
        };
        Ok(Step::new(observation))
    }

    fn admissible_actions(&self) -> Vec<String> {
        vec!["attack".into()]
    }

    fn prompt(&self) -> PromptPieces {
        if self.config.attack == "prompt-loop" {
            infinite_loop();
        }
        PromptPieces::new("You are a test fixture.", "There are no rules.")
    }
}

export_env!(Hostile);
