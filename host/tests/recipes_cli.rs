//! Recipes and configs from the command line: `recipe show` prints the
//! embedded TOML exactly, a partial recipe's unknown key and a second turn
//! limit are one-line refusals before any work, and `inspect --config`
//! validates a config and shows the effective one.

use std::process::Output;

mod cli_common;
use cli_common::{host, one_line_error};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn keydoor() -> String {
    lamer_tests::plugin_path("keydoor").display().to_string()
}

#[test]
fn recipe_show_prints_the_builtin_toml_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let shown = host(dir.path(), &["recipe", "show", "keydoor"]);
    assert!(shown.status.success());
    assert_eq!(
        stdout(&shown),
        include_str!("../../examples/recipes/keydoor.toml")
    );
    let default = host(dir.path(), &["recipe", "show", "default"]);
    assert_eq!(
        stdout(&default),
        include_str!("../templates/recipes/default.toml")
    );
    let list = stdout(&host(dir.path(), &["recipe", "list"]));
    for name in [
        "keydoor",
        "sokoban",
        "minesweeper",
        "webshop",
        "alfworld",
        "default",
    ] {
        assert!(list.contains(name), "{list}");
    }
    one_line_error(
        &host(dir.path(), &["recipe", "show", "nope"]),
        "no built-in recipe `nope`",
    );
}

#[test]
fn a_partial_recipe_with_an_unknown_key_or_two_turn_limits_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = keydoor();
    std::fs::write(dir.path().join("typo.toml"), "[trial]\ngama_traj = 0.5\n").unwrap();
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--plugin", &plugin, "--out", "run", "--quiet"];
        args.extend_from_slice(extra);
        host(dir.path(), &args)
    };
    one_line_error(
        &train(&["--recipe", "typo.toml"]),
        "unknown key `trial.gama_traj`",
    );
    std::fs::write(
        dir.path().join("twice.toml"),
        "[env.config]\nmax_turns = 3\n",
    )
    .unwrap();
    one_line_error(
        &train(&["--recipe", "twice.toml"]),
        "env.config.max_turns (3) disagrees with trial.max_turns (2)",
    );
    one_line_error(
        &train(&["--config", r#"{"max_turns": 4}"#]),
        "trial.max_turns alone decides",
    );
    assert!(!dir.path().join("run").exists(), "refused before any work");
}

#[test]
fn inspect_config_validates_and_shows_the_effective_config() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = keydoor();
    let out = host(
        dir.path(),
        &[
            "inspect",
            "--plugin",
            &plugin,
            "--config",
            r#"{"doors": 6}"#,
            "--json",
        ],
    );
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        json["effective_config"],
        serde_json::json!({"doors": 6, "max_turns": 2})
    );
    assert_eq!(json["default_config"]["doors"], 4);
    let text = stdout(&host(
        dir.path(),
        &[
            "inspect",
            "--plugin",
            &plugin,
            "--config",
            r#"{"doors": 6}"#,
        ],
    ));
    assert!(
        text.contains("effective config") && text.contains("\"doors\": 6"),
        "{text}"
    );

    one_line_error(
        &host(
            dir.path(),
            &[
                "inspect",
                "--plugin",
                &plugin,
                "--config",
                r#"{"rooms": 3}"#,
            ],
        ),
        "unknown key `rooms`",
    );
    one_line_error(
        &host(
            dir.path(),
            &[
                "inspect",
                "--plugin",
                &plugin,
                "--config",
                r#"{"doors": 1}"#,
            ],
        ),
        "doors must be 2 to 9",
    );
}
