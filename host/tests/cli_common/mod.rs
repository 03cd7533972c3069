//! Running the `lamer-host` binary as a user does, shared by the CLI tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// `lamer-host ARGS` run in `dir`.
pub fn host(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lamer-host"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("lamer-host runs")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The command failed with one line of error that contains `needle`.
pub fn one_line_error(out: &Output, needle: &str) {
    assert!(!out.status.success());
    let err = stderr(out);
    assert!(err.contains(needle), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
