//! One spelling per idea across subcommands: reports take `--format
//! text|json`, progress bars go with `--no-progress`, the device is
//! `--device`; the older spellings still parse but are not advertised.

use std::process::Command;

/// Whether `help` lists `flag` as an option of its own (not merely names it).
fn lists(help: &str, flag: &str) -> bool {
    help.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with(flag) || l.split(", ").any(|part| part.starts_with(flag))
    })
}

fn help(subcommand: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lamer-host"))
        .args([subcommand, "--help"])
        .output()
        .expect("lamer-host runs");
    assert!(out.status.success(), "{subcommand} --help");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_subcommand_spells_the_shared_flags_the_same_way() {
    for reporter in ["inspect", "check", "transcript", "bench"] {
        let text = help(reporter);
        assert!(text.contains("--format <FORMAT>"), "{reporter}: {text}");
        assert!(!lists(&text, "--json"), "{reporter} advertises --json");
    }
    for runner in ["train", "eval"] {
        let text = help(runner);
        assert!(text.contains("--no-progress"), "{runner}: {text}");
        assert!(!lists(&text, "--quiet"), "{runner} advertises --quiet");
    }
    for learner in ["train", "eval", "sft"] {
        let text = help(learner);
        assert!(text.contains("--device <DEVICE>"), "{learner}: {text}");
        assert!(!lists(&text, "--cuda"), "{learner} advertises --cuda");
    }
}

#[test]
fn the_older_spellings_still_parse() {
    let plugin = lamer_tests::plugin_path("keydoor").display().to_string();
    for args in [
        vec!["inspect", "--plugin", &plugin, "--json"],
        vec!["inspect", "--plugin", &plugin, "--format", "json"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_lamer-host"))
            .args(&args)
            .output()
            .expect("lamer-host runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(json["name"], "keydoor", "{args:?}");
    }
}
