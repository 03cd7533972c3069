//! The `lamer-host` binary: parses the command line and reports errors for
//! people (one line, with what to do), exiting non-zero.

use clap::Parser;
use lamer_host::cli::terminal::one_line;
use lamer_host::cli::{Cli, run};

fn main() -> std::process::ExitCode {
    // SAFETY: first thing in main, before any thread exists.
    unsafe { lamer_policy::threads::init_cpu_threads() };
    lamer_policy::allocator::tune_allocator();
    quiet_broken_pipe();
    init_logging();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line, and nothing a plugin wrote can drive the terminal.
            eprintln!("error: {}", one_line(&format!("{error:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`lamer-host … |
/// head`) would panic; with the default action the process ends quietly, as
/// every other command-line tool does.
fn quiet_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to its default is always sound.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Diagnostics on stderr, filtered by `RUST_LOG` (e.g. `RUST_LOG=lamer_host=debug`);
/// warnings only by default.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .init();
}
