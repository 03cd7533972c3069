//! `lamer-host new` as a new author uses it: the crate it writes, outside
//! this repository, builds to a wasm component, passes `check`, trains with
//! its own recipe, and its transcript snapshot test fails until the first
//! snapshot is accepted with `INSTA_UPDATE=always` (as its README says).
//!
//! The generated crate builds into the directory where the test plugins were
//! built (`lamer-tests`' build script), so the compiled dependencies are
//! reused and the build takes seconds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod cli_common;
use cli_common::host;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn one_line_error(out: &Output, needle: &str) {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// Where the test plugins were built: `<dir>/wasm32-wasip2/plugin/keydoor.wasm`.
fn plugin_target_dir() -> PathBuf {
    let keydoor = lamer_tests::plugin_path("keydoor");
    keydoor
        .ancestors()
        .nth(3)
        .expect("plugins live in <target>/wasm32-wasip2/plugin/")
        .to_path_buf()
}

/// `cargo` in `dir` as a user runs it: none of this test run's cargo
/// variables, no CI or insta settings of the caller.
fn cargo(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(dir).args(args);
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let keep = matches!(key, "CARGO_HOME" | "CARGO_NET_OFFLINE");
        let leaks = key.starts_with("CARGO_")
            || key.starts_with("INSTA_")
            || matches!(key, "CI" | "RUSTFLAGS" | "RUSTC" | "RUSTC_WRAPPER");
        if leaks && !keep {
            command.env_remove(key);
        }
    }
    command.env("CARGO_TARGET_DIR", plugin_target_dir());
    command
}

fn run(mut command: Command) -> Output {
    command.output().expect("cargo runs")
}

#[test]
fn a_new_crate_builds_checks_trains_and_pins_its_transcript() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo-env");
    let dir_arg = dir.display().to_string();
    let made = host(tmp.path(), &["new", "demo-env", "--path", &dir_arg]);
    assert!(made.status.success(), "{}", text(&made));

    // Nothing is ever written over.
    let again = host(tmp.path(), &["new", "demo-env", "--path", &dir_arg]);
    one_line_error(&again, "already exists and is not empty");

    let build = run(cargo(
        &dir,
        &["build", "--profile", "plugin", "--target", "wasm32-wasip2"],
    ));
    assert!(build.status.success(), "{}", text(&build));
    let wasm = plugin_target_dir().join("wasm32-wasip2/plugin/demo_env.wasm");
    let wasm = wasm.display().to_string();

    let check = host(&dir, &["check", "--plugin", &wasm]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        text(&check).contains("10 of 10 checks passed"),
        "{}",
        text(&check)
    );

    let train = host(
        &dir,
        &[
            "train",
            "--plugin",
            &wasm,
            "--recipe",
            "recipe.toml",
            "--out",
            "run",
            "--steps",
            "1",
            "--tasks-per-step",
            "1",
            "--group-size",
            "1",
            "--val-tasks",
            "1",
            "--max-new-tokens",
            "8",
            "--quiet",
        ],
    );
    assert!(train.status.success(), "{}", text(&train));
    // The recipe's trial.max_turns reached the plugin's config.
    let used = std::fs::read_to_string(dir.join("run/recipe.toml")).unwrap();
    let used: toml::Table = toml::from_str(&used).unwrap();
    assert_eq!(used["env"]["config"]["max_turns"].as_integer(), Some(3));
    assert_eq!(used["env"]["name"].as_str(), Some("demo-env"));

    // The first snapshot is not there yet: the test fails and proposes one.
    let first = run(cargo(&dir, &["test", "--test", "transcript"]));
    assert!(!first.status.success(), "{}", text(&first));
    let snapshots = dir.join("tests/snapshots");
    let proposed = snapshots.join("transcript__a_seeded_episode_is_pinned.snap.new");
    assert!(proposed.is_file(), "{}", text(&first));

    // Accepting it, as the README says, makes the whole suite pass.
    let mut accept = cargo(&dir, &["test"]);
    accept.env("INSTA_UPDATE", "always");
    let accepted = run(accept);
    assert!(accepted.status.success(), "{}", text(&accepted));
    let snapshot =
        std::fs::read_to_string(snapshots.join("transcript__a_seeded_episode_is_pinned.snap"))
            .unwrap();
    assert!(
        snapshot.contains("env: demo-env  task: train/7"),
        "{snapshot}"
    );
}

#[test]
fn bad_names_and_missing_sdks_are_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["9lives", "My-Env", "my_env", "a--b"] {
        one_line_error(
            &host(tmp.path(), &["new", bad]),
            "is not a valid environment name",
        );
        assert!(!tmp.path().join(bad).exists(), "{bad}");
    }
    one_line_error(&host(tmp.path(), &["new", "fn"]), "cannot be a crate name");
    let not_sdk = tmp.path().display().to_string();
    one_line_error(
        &host(tmp.path(), &["new", "ok-env", "--sdk", &not_sdk]),
        "is not the lamer-sdk crate",
    );
    assert!(!tmp.path().join("ok-env").exists());
}
