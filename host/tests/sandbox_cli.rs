//! The sandbox's guarantees as a user meets them on the command line: a
//! plugin that reads the clock and randomness gives the same transcript on
//! every run and passes `check` unless `--grant` hands it the host's; a
//! plugin that never ends an episode stops at `--max-episode-turns` with a
//! one-line error; and `play` shows the legend, refuses unknown commands
//! without spending a turn, counts turns and numbers board columns.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Longer than any of these runs takes; a run past it is a stalled host.
const STALL: Duration = Duration::from_secs(60);

/// Runs `lamer-host args` with `stdin`, killing it (and failing the test)
/// if it runs past [`STALL`].
fn host(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lamer-host"))
        .args(args)
        .arg("--no-cache")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lamer-host runs");
    let mut input = child.stdin.take().expect("piped stdin");
    input.write_all(stdin.as_bytes()).expect("stdin is written");
    drop(input);
    let start = Instant::now();
    while child
        .try_wait()
        .expect("the child can be waited on")
        .is_none()
    {
        if start.elapsed() > STALL {
            let _ = child.kill();
            panic!("lamer-host {args:?} still ran after {STALL:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("the output is read")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn plugin(name: &str) -> String {
    lamer_tests::plugin_path(name).display().to_string()
}

const CLOCK_AND_RANDOM: &str = r#"{"attack": "clock-and-random"}"#;
const ENDLESS: &str = r#"{"attack": "none", "max_turns": 4294967295}"#;

fn transcript(config: &str, extra: &[&str]) -> Output {
    let hostile = plugin("hostile");
    let mut args = vec![
        "transcript",
        "--plugin",
        &hostile,
        "--split",
        "train",
        "--task",
        "3",
        "--policy",
        "random",
        "--config",
        config,
    ];
    args.extend_from_slice(extra);
    host(&args, "")
}

#[test]
fn a_plugin_reading_clock_and_random_gives_the_same_transcript_on_every_run() {
    let first = transcript(CLOCK_AND_RANDOM, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let second = transcript(CLOCK_AND_RANDOM, &[]);
    assert_eq!(stdout(&first), stdout(&second));
    assert!(
        stdout(&first).contains("wall 946684800"),
        "{}",
        stdout(&first)
    );

    let granted = ["--grant", "real-clock,os-random"];
    let first = transcript(CLOCK_AND_RANDOM, &granted);
    assert!(first.status.success(), "{}", stderr(&first));
    let second = transcript(CLOCK_AND_RANDOM, &granted);
    assert_ne!(stdout(&first), stdout(&second));
}

#[test]
fn check_passes_a_plugin_reading_clock_and_random_unless_granted_them() {
    let hostile = plugin("hostile");
    let args = |extra: &[&'static str]| {
        let mut args = vec![
            "check",
            "--plugin",
            hostile.as_str(),
            "--config",
            CLOCK_AND_RANDOM,
            "--tasks-per-split",
            "2",
            "--expert-tasks",
            "1",
        ];
        args.extend_from_slice(extra);
        args
    };
    let passed = host(&args(&[]), "");
    assert!(passed.status.success(), "{}", stdout(&passed));
    let failed = host(&args(&["--grant", "real-clock,os-random"]), "");
    assert!(!failed.status.success());
    let text = stdout(&failed);
    let line = text
        .lines()
        .find(|l| l.contains("reset is deterministic"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("FAIL"), "{line}");
}

#[test]
fn a_transcript_of_an_episode_that_never_ends_stops_at_the_turn_cap() {
    let out = transcript(ENDLESS, &["--max-episode-turns", "30"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("cap of 30 turns"), "{err}");
    assert!(err.contains("--max-episode-turns"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // The default cap holds too.
    let out = transcript(ENDLESS, &[]);
    assert!(
        stderr(&out).contains("cap of 1000 turns"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_fails_a_plugin_that_never_ends_an_episode() {
    let hostile = plugin("hostile");
    let out = host(
        &[
            "check",
            "--plugin",
            &hostile,
            "--config",
            ENDLESS,
            "--max-episode-turns",
            "40",
        ],
        "",
    );
    assert!(!out.status.success());
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains("episodes end correctly"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("FAIL") && line.contains("within 40 steps (--max-episode-turns)"),
        "{line}"
    );
}

fn play(plugin_name: &str, extra: &[&str], stdin: &str) -> String {
    let path = plugin(plugin_name);
    let mut args = vec!["play", "--plugin", path.as_str()];
    args.extend_from_slice(extra);
    let out = host(&args, stdin);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn play_shows_the_legend_and_the_action_format_by_default() {
    let shown = play("keydoor", &[], ":quit\n");
    assert!(shown.contains("## Rules"), "{shown}");
    assert!(shown.contains("Action format: "), "{shown}");
    assert!(shown.contains("<action>open 2</action>"), "{shown}");
    let brief = play("keydoor", &["--no-legend"], ":quit\n");
    assert!(
        !brief.contains("## Rules") && !brief.contains("Action format"),
        "{brief}"
    );
    assert!(brief.starts_with("-- task test/0 --"), "{brief}");
}

#[test]
fn play_refuses_unknown_commands_without_spending_a_turn_and_counts_turns() {
    let shown = play(
        "keydoor",
        &["--no-legend", "--config", r#"{"doors": 6, "max_turns": 6}"#],
        ":bogus\nopen 1\n:hlep\nopen 2\n",
    );
    assert!(
        shown.contains("unknown command `:bogus`; no turn was spent"),
        "{shown}"
    );
    assert!(shown.contains("unknown command `:hlep`"), "{shown}");
    // Neither command reached the environment as an action.
    assert!(!shown.contains("action \":"), "{shown}");
    assert!(shown.contains("turn 1: action \"open 1\""), "{shown}");
    assert!(shown.contains("turn 2: action \"open 2\""), "{shown}");
    assert!(!shown.contains("turn 3:"), "{shown}");
}

#[test]
fn play_numbers_the_columns_of_grid_boards() {
    let shown = play("sokoban", &["--no-legend"], ":quit\n");
    let lines: Vec<&str> = shown.lines().collect();
    let board = lines
        .iter()
        .position(|l| l.starts_with("0: #"))
        .unwrap_or_else(|| panic!("{shown}"));
    let width = lines[board]
        .split(": ")
        .nth(1)
        .unwrap_or("")
        .len()
        .div_ceil(2);
    let expected: Vec<String> = (0..width).map(|c| c.to_string()).collect();
    assert_eq!(
        lines[board - 1],
        format!("   {}", expected.join(" ")),
        "{shown}"
    );
}

#[test]
fn play_ends_an_episode_at_the_turn_cap_and_says_so() {
    let shown = play(
        "hostile",
        &[
            "--no-legend",
            "--split",
            "train",
            "--config",
            ENDLESS,
            "--max-episode-turns",
            "3",
        ],
        "a\nb\nc\nd\ne\n",
    );
    assert!(shown.contains("turn 3: action \"c\""), "{shown}");
    assert!(!shown.contains("turn 4:"), "{shown}");
    assert!(shown.contains("cap of 3 turns"), "{shown}");
    assert!(shown.contains("The episode is over."), "{shown}");
}
