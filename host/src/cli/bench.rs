//! `lamer-host bench`: how fast a plugin runs inside the sandbox.
//!
//! Measures the component load with and without the compile cache, opening a
//! session (a fresh store and instance), and the throughput of `reset` over
//! distinct tasks, `restart`, and `step` with seeded random admissible actions
//! (only the calls themselves are timed; choosing actions and the resets between
//! episodes are not).

use std::time::{Duration, Instant};

use clap::Args;
use lamer_plugin::{EnvFactory, RuntimeConfig};
use lamer_sdk::{SeededRng, Task};

use super::plugin_args::PluginArgs;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub plugin: PluginArgs,

    /// The split whose tasks are reset.
    #[arg(long, default_value = "test")]
    pub split: String,

    /// Distinct tasks to reset (and sessions to open).
    #[arg(long, default_value_t = 200)]
    pub tasks: u64,

    /// Steps to time.
    #[arg(long, default_value_t = 5000)]
    pub steps: u64,

    /// Seed of the random actions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    #[command(flatten)]
    pub output: super::output_args::FormatArgs,
}

#[derive(Debug, serde::Serialize)]
struct BenchReport {
    env: String,
    load_compile_ms: f64,
    load_cached_ms: f64,
    session_open_us: f64,
    resets_per_s: f64,
    restarts_per_s: f64,
    steps_per_s: f64,
    episodes: u64,
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-12)
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let limits = args.plugin.limits();
    // Load cold (compile) and warm (from a fresh, private cache) to compare.
    let cache = tempfile::tempdir()?;
    let runtime = lamer_plugin::Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeConfig::default()
    })?;
    let started = Instant::now();
    runtime.load(&args.plugin.plugin, limits.clone())?;
    let load_compile = started.elapsed();
    let started = Instant::now();
    let plugin = runtime.load(&args.plugin.plugin, limits)?;
    let load_cached = started.elapsed();

    let config = args.plugin.config_json()?;
    let tasks = args.tasks.max(1);
    let started = Instant::now();
    let mut sessions = Vec::new();
    for _ in 0..tasks {
        sessions.push(plugin.open(&config)?);
    }
    let open_time = started.elapsed();
    drop(sessions);

    let mut session = plugin.open(&config)?;
    let started = Instant::now();
    for index in 0..tasks {
        session.reset(&Task::new(&args.split, index))?;
    }
    let reset_time = started.elapsed();

    let started = Instant::now();
    for _ in 0..tasks {
        session.restart()?;
    }
    let restart_time = started.elapsed();

    let mut rng = SeededRng::new(args.seed);
    let mut step_time = Duration::ZERO;
    let mut episodes = 0;
    let mut index = 0;
    session.reset(&Task::new(&args.split, index))?;
    for _ in 0..args.steps {
        let actions = session.admissible_actions()?;
        let action = rng.choose(&actions).cloned().unwrap_or_default();
        let started = Instant::now();
        let result = session.step(&action)?;
        step_time += started.elapsed();
        if result.done() {
            episodes += 1;
            index = (index + 1) % tasks;
            session.reset(&Task::new(&args.split, index))?;
        }
    }

    let report = BenchReport {
        env: plugin.info().name.clone(),
        load_compile_ms: load_compile.as_secs_f64() * 1e3,
        load_cached_ms: load_cached.as_secs_f64() * 1e3,
        session_open_us: open_time.as_secs_f64() * 1e6 / tasks as f64,
        resets_per_s: per_second(tasks, reset_time),
        restarts_per_s: per_second(tasks, restart_time),
        steps_per_s: per_second(args.steps, step_time),
        episodes,
    };
    if args.output.is_json() {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("bench of {} in the sandbox", report.env);
        println!("  load, compiling      {:>12.2} ms", report.load_compile_ms);
        println!("  load, cached         {:>12.3} ms", report.load_cached_ms);
        println!("  open a session       {:>12.1} µs", report.session_open_us);
        println!(
            "  reset                {:>12.0} /s ({tasks} tasks)",
            report.resets_per_s
        );
        println!("  restart              {:>12.0} /s", report.restarts_per_s);
        println!(
            "  step                 {:>12.0} /s ({} steps, {} episodes)",
            report.steps_per_s, args.steps, report.episodes
        );
    }
    Ok(())
}
