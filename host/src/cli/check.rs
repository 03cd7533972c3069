//! `lamer-host check`: the environment checker as a pass/fail table.

use clap::Args;
use lamer_plugin::EnvFactory;

use super::plugin_args::PluginArgs;
use super::terminal::one_line;
use crate::check::{CheckOptions, run_checks};

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub plugin: PluginArgs,

    /// Tasks sampled from every split for the determinism and episode checks.
    #[arg(long, default_value_t = 5)]
    pub tasks_per_split: u64,

    /// Tasks the expert plays.
    #[arg(long, default_value_t = 20)]
    pub expert_tasks: u64,

    /// The expert win rate (0 to 1) needed to pass.
    #[arg(long, default_value_t = 0.5)]
    pub expert_min_win_rate: f64,

    /// Seed of the sampled tasks and actions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    #[command(flatten)]
    pub output: super::output_args::FormatArgs,
}

pub fn run(args: CheckArgs) -> anyhow::Result<()> {
    let plugin = args.plugin.load()?;
    let options = CheckOptions {
        config_json: args.plugin.config_json()?,
        tasks_per_split: args.tasks_per_split.max(1),
        expert_tasks: args.expert_tasks,
        expert_min_win_rate: args.expert_min_win_rate,
        seed: args.seed,
        max_episode_turns: args.plugin.sandbox.max_episode_turns.max(1),
    };
    let report = run_checks(&plugin, &options);
    if args.output.is_json() {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("check of {} ({})", report.env, plugin.info().version);
        let width = report
            .outcomes
            .iter()
            .map(|o| o.name.len())
            .max()
            .unwrap_or(0);
        for o in &report.outcomes {
            let mark = if o.passed { "pass" } else { "FAIL" };
            println!("  {mark}  {:<width$}  {}", o.name, one_line(&o.detail));
        }
        let failed = report.outcomes.iter().filter(|o| !o.passed).count();
        println!(
            "{} of {} checks passed",
            report.outcomes.len() - failed,
            report.outcomes.len()
        );
    }
    if report.passed() {
        Ok(())
    } else {
        anyhow::bail!("{} failed the environment check", report.env)
    }
}
