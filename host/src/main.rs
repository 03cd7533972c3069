//! The `lamer-host` binary: parses the command line and reports errors for
//! people (one line, with what to do), exiting non-zero.

use clap::Parser;
use lamer_host::cli::{Cli, run};

fn main() -> std::process::ExitCode {
    // SAFETY: first thing in main, before any thread exists.
    unsafe { lamer_policy::threads::init_cpu_threads() };
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
