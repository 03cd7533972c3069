//! The `lamer-host` binary as a user runs it: run directories never mix,
//! `--resume` continues where the run lives, a config the plugin rejects
//! fails before any work, and every failure is one line with a non-zero exit.

use std::path::Path;
use std::process::{Command, Output};

mod cli_common;
use cli_common::{host, one_line_error, stderr};

fn keydoor() -> String {
    lamer_tests::plugin_path("keydoor").display().to_string()
}

/// A one-step tiny-model run of keydoor into `out`, plus `extra` flags.
fn train(dir: &Path, out: &str, extra: &[&str]) -> Output {
    let plugin = keydoor();
    let mut args = vec![
        "train",
        "--plugin",
        &plugin,
        "--out",
        out,
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
        "--warm-start",
        "off",
    ];
    args.extend_from_slice(extra);
    host(dir, &args)
}

#[test]
fn a_second_run_into_the_same_directory_is_refused_unless_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let first = train(dir.path(), "run", &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let metrics = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
    let second = train(dir.path(), "run", &[]);
    one_line_error(&second, "already holds a run; pass --overwrite");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap(),
        metrics,
        "the refused run touched nothing"
    );
    // A stale file of the old run must not survive an overwrite.
    std::fs::write(dir.path().join("run/checkpoints/step-000099"), "old").unwrap();
    let third = train(dir.path(), "run", &["--overwrite"]);
    assert!(third.status.success(), "{}", stderr(&third));
    assert!(!dir.path().join("run/checkpoints/step-000099").exists());
    let lines = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
    assert_eq!(
        lines
            .lines()
            .filter(|l| l.starts_with(r#"{"step":0"#))
            .count(),
        1
    );
}

#[test]
fn resume_continues_in_its_directory_and_extends_with_steps() {
    let dir = tempfile::tempdir().unwrap();
    let first = train(dir.path(), "run", &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let stdout = String::from_utf8_lossy(&first.stdout).into_owned();
    let plugin = keydoor();
    assert!(
        stdout.contains(&format!(
            "continue: lamer-host train --plugin {plugin} --resume run --steps 2"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "evaluate: lamer-host eval --plugin {plugin} --model run/model"
        )),
        "{stdout}"
    );
    let before = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
    // Leftovers of a checkpoint write that was interrupted.
    std::fs::create_dir_all(dir.path().join("run/checkpoints/.step-000002.tmp-1")).unwrap();

    let refused = host(
        dir.path(),
        &[
            "train", "--plugin", &plugin, "--resume", "run", "--lr", "0.5",
        ],
    );
    one_line_error(&refused, "--lr would change what it means");

    let resumed = host(
        dir.path(),
        &[
            "train", "--plugin", &plugin, "--resume", "run", "--steps", "2", "--quiet",
        ],
    );
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        !dir.path().join("runs").exists(),
        "nothing went to the default directory"
    );
    let after = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
    assert!(
        after.starts_with(&before),
        "earlier steps are kept byte for byte"
    );
    assert!(after.lines().any(|l| l.starts_with(r#"{"step":2"#)));
    assert!(
        dir.path()
            .join("run/checkpoints/step-000002/state.json")
            .is_file()
    );
    assert!(
        !dir.path()
            .join("run/checkpoints/.step-000002.tmp-1")
            .exists()
    );
    assert!(dir.path().join("run/model/config.json").is_file());
}

#[test]
fn a_config_the_plugin_rejects_fails_train_and_eval_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let bad = ["--config", r#"{"doors": 0}"#];
    let trained = train(dir.path(), "run", &bad);
    one_line_error(&trained, "doors must be 2 to 9");
    assert!(!dir.path().join("run/metrics.jsonl").exists());
    let plugin = keydoor();
    let evaluated = host(
        dir.path(),
        &[
            "eval", "--plugin", &plugin, "--policy", "random", "--tasks", "2", bad[0], bad[1],
        ],
    );
    one_line_error(&evaluated, "doors must be 2 to 9");
    assert!(!dir.path().join("runs").exists());
}

#[test]
fn two_evaluations_of_different_models_do_not_share_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let first = train(dir.path(), "a", &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let plugin = keydoor();
    let eval = |model: &str| {
        let out = host(
            dir.path(),
            &[
                "eval",
                "--plugin",
                &plugin,
                "--model",
                model,
                "--tasks",
                "1",
                "--max-new-tokens",
                "4",
                "--no-progress",
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    };
    eval("a/model");
    eval("tiny");
    let mut dirs: Vec<String> = std::fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    assert!(
        dirs[0].contains("-llm-a_model-") && dirs[1].contains("-llm-tiny-"),
        "{dirs:?}"
    );
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    let plugin = lamer_tests::plugin_path("webshop").display().to_string();
    // ~160 kB of JSON: more than a pipe buffer holds.
    let mut child = Command::new(env!("CARGO_BIN_EXE_lamer-host"))
        .args([
            "transcript",
            "--plugin",
            &plugin,
            "--task",
            "0",
            "--policy",
            "random",
            "--format",
            "json",
            "--config",
            r#"{"max_turns": 200}"#,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    // The reader is gone (as after `| head -c 100`).
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
}

#[test]
fn without_a_terminal_every_step_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = keydoor();
    let out = host(
        dir.path(),
        &[
            "train",
            "--plugin",
            &plugin,
            "--out",
            "run",
            "--steps",
            "2",
            "--tasks-per-step",
            "1",
            "--group-size",
            "1",
            "--val-tasks",
            "1",
            "--val-every",
            "1",
            "--max-new-tokens",
            "8",
            "--warm-start",
            "off",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("step ")).collect();
    assert_eq!(
        lines.len(),
        3,
        "validation before training, then 2 steps: {err}"
    );
    assert!(
        lines[0].starts_with("step 0/2  val pass@1 "),
        "{}",
        lines[0]
    );
    assert!(lines[2].starts_with("step 2/2  success "), "{}", lines[2]);
    assert!(
        lines[2].contains(" valid ") && lines[2].ends_with(" s"),
        "{}",
        lines[2]
    );
}

#[test]
fn prompt_prints_what_the_agent_sees() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = keydoor();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "prompt",
            "--plugin",
            plugin.as_str(),
            "--task",
            "4",
            "--seed",
            "4",
        ];
        args.extend_from_slice(extra);
        host(dir.path(), &args)
    };
    let first = run(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let first = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(
        first.contains("# Observations") && !first.contains("trial #"),
        "{first}"
    );
    let later = run(&["--attempt", "2", "--turn", "2"]);
    let later = String::from_utf8_lossy(&later.stdout).into_owned();
    assert!(
        later.contains("On trial #1, the task is NOT successfully completed."),
        "{later}"
    );
    assert!(
        later.contains("Currently you're on trial #2. You have already taken"),
        "{later}"
    );
    let reflect = run(&["--attempt", "2", "--reflect"]);
    let reflect = String::from_utf8_lossy(&reflect.stdout).into_owned();
    assert!(reflect.contains("<remark> </remark>"), "{reflect}");
    one_line_error(
        &run(&["--attempt", "3", "--policy", "expert"]),
        "won task test/4 in attempt 1",
    );
    one_line_error(&run(&["--attempt", "0"]), "count from 1");
}

#[test]
fn nothing_a_plugin_writes_reaches_the_terminal_raw() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = lamer_tests::plugin_path("hostile").display().to_string();
    std::fs::write(dir.path().join("actions"), "attack\n").unwrap();
    let shown = host(
        dir.path(),
        &[
            "transcript",
            "--plugin",
            &plugin,
            "--split",
            "train",
            "--task",
            "0",
            "--actions",
            "actions",
            "--config",
            r#"{"attack": "escape-codes"}"#,
        ],
    );
    assert!(shown.status.success(), "{}", stderr(&shown));
    let text = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(
        text.contains("\\u{1b}[2J") && text.contains(" board\n"),
        "{text}"
    );

    let trapped = host(
        dir.path(),
        &[
            "transcript",
            "--plugin",
            &plugin,
            "--split",
            "train",
            "--task",
            "0",
            "--actions",
            "actions",
            "--config",
            r#"{"attack": "panic-escape"}"#,
        ],
    );
    one_line_error(&trapped, "screen cleared");
    let err = stderr(&trapped);
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
}

#[test]
fn check_fails_a_plugin_that_hangs_building_its_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = lamer_tests::plugin_path("hostile").display().to_string();
    let out = host(
        dir.path(),
        &[
            "check",
            "--plugin",
            &plugin,
            "--call-timeout-ms",
            "300",
            "--config",
            r#"{"attack": "prompt-loop"}"#,
        ],
    );
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains("prompt pieces and brief observations answer"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("prompt failed") && line.contains("deadline"),
        "{line}"
    );
    // A plugin whose prompt is fine passes that check.
    let keydoor = keydoor();
    let ok = host(dir.path(), &["check", "--plugin", &keydoor]);
    let text = String::from_utf8_lossy(&ok.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains("prompt pieces and brief observations answer"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("briefs to"), "{line}");
    assert!(ok.status.success(), "{text}");
}

#[test]
fn a_recipe_longer_than_the_host_turn_cap_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = train(dir.path(), "run", &["--max-episode-turns", "1"]);
    one_line_error(&out, "--max-episode-turns caps an episode at 1");
    assert!(
        !dir.path().join("run").exists(),
        "no run directory was made"
    );
}

#[test]
fn train_logs_what_a_prefix_tree_would_share_in_prefill() {
    let dir = tempfile::tempdir().unwrap();
    // Group 2: both trials of the task see the identical first prompt.
    let plugin = keydoor();
    let run = host(
        dir.path(),
        &[
            "train",
            "--plugin",
            &plugin,
            "--out",
            "run",
            "--steps",
            "1",
            "--tasks-per-step",
            "1",
            "--group-size",
            "2",
            "--val-tasks",
            "1",
            "--max-new-tokens",
            "8",
            "--quiet",
            "--warm-start",
            "off",
        ],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let metrics = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
    // Step 0 is the validation before training; step 1 has the rollout.
    let step: serde_json::Value = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|m| m["step"] == 1)
        .expect("a step-1 record");
    let get = |k: &str| {
        step[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k} missing: {step}"))
    };
    let (a, b, padded, c) = (
        get("prefill/prompt_tokens"),
        get("prefill/dedup_tokens"),
        get("prefill/dedup_padded_tokens"),
        get("prefill/prefix_tree_tokens"),
    );
    assert!(
        get("prefill/batches") >= 1.0 && get("prefill/rows") >= 2.0,
        "{step}"
    );
    assert!(
        b < a,
        "the first turn's two identical prompts count once: {step}"
    );
    assert!(c <= b && b <= padded, "{step}");
    let batch_prefix = get("prefill/batch_prefix_tokens");
    assert!(c <= batch_prefix && batch_prefix <= b, "{step}");
}
