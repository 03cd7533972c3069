//! The `lamer-host` command line: one file per subcommand, shared flag groups
//! flattened in. Errors surface here as `anyhow` with context for people.

pub mod bench;
pub mod check;
pub mod eval;
pub mod inspect;
pub mod new;
pub mod openai_args;
pub mod output_args;
pub mod play;
pub mod plugin_args;
pub mod prompt;
pub mod recipe;
pub mod serve;
pub mod sft;
pub mod terminal;
pub mod train;
pub mod transcript;

use clap::{Parser, Subcommand};

/// Train, evaluate and inspect LLM agents that explore across attempts (LaMer),
/// on environments that run as sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "lamer-host", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a plugin's info, splits, config defaults and the WASI imports it needs.
    Inspect(inspect::InspectArgs),
    /// Play an environment yourself in the terminal (or pipe actions on stdin).
    Play(play::PlayArgs),
    /// Check that a plugin behaves: determinism, restart, garbage actions, episode ends, expert.
    Check(check::CheckArgs),
    /// Print a deterministic transcript of one episode, as text or JSON.
    Transcript(transcript::TranscriptArgs),
    /// Print the exact prompt the agent sees at a turn of an attempt.
    Prompt(prompt::PromptArgs),
    /// Measure a plugin's reset, restart and step throughput inside the sandbox.
    Bench(bench::BenchArgs),
    /// Evaluate an agent: success per attempt (pass@k), returns, diversity; JSON, JSONL and a plot.
    Eval(eval::EvalArgs),
    /// Train an agent with meta-RL (LaMer) or a single-episode RL baseline (GiGPO, GRPO).
    Train(train::TrainArgs),
    /// Warm-start a model by fine-tuning it on the plugin expert's demonstrations.
    Sft(sft::SftArgs),
    /// Write a new environment plugin crate (game skeleton, snapshot test, recipe) into a directory.
    New(new::NewArgs),
    /// Print the built-in training recipes (`recipe show ENV`, `recipe list`).
    #[command(subcommand)]
    Recipe(recipe::RecipeCommand),
    /// Serve plugins over HTTP and WebSocket on OpenEnv's protocol, for any trainer.
    Serve(serve::ServeArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Play(args) => play::run(args),
        Command::Check(args) => check::run(args),
        Command::Transcript(args) => transcript::run(args),
        Command::Prompt(args) => prompt::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Train(args) => train::run(args),
        Command::Sft(args) => sft::run(args),
        Command::New(args) => new::run(args),
        Command::Recipe(command) => recipe::run(command),
        Command::Serve(args) => serve::run(args),
    }
}
