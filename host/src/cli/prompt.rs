//! `lamer-host prompt`: the exact prompt the agent sees at one point of a
//! trial. Earlier turns and attempts are played by a scripted policy (random
//! admissible actions and a fixed reflection, both seeded), through the same
//! rollout engine `eval` and `train` use, so the printed text is what a model
//! would receive there.

use clap::Args;
use lamer_policy::{ExpertPolicy, Policy, RandomPolicy};
use lamer_sdk::Task;

use super::plugin_args::PluginArgs;
use super::transcript::ScriptedPolicy;
use crate::agent::MemoryMode;
use crate::rollout::{NoObserver, Phase, RolloutConfig, TaskGroup, TrialMode, run_rollout};

/// Flags of `lamer-host prompt`.
#[derive(Debug, Args)]
pub struct PromptArgs {
    #[command(flatten)]
    pub plugin: PluginArgs,

    /// The split to draw the task from.
    #[arg(long, default_value = "test")]
    pub split: String,

    /// The task index within the split.
    #[arg(long)]
    pub task: u64,

    /// The attempt (1-based); earlier attempts are played and fail first.
    #[arg(long, default_value_t = 1)]
    pub attempt: u32,

    /// The turn within the attempt (1-based).
    #[arg(long, default_value_t = 1)]
    pub turn: u32,

    /// Print the reflection prompt written before `--attempt` (2 or more)
    /// instead of a play prompt.
    #[arg(long)]
    pub reflect: bool,

    /// What later attempts remember of failed ones.
    #[arg(long, value_enum, default_value = "reflection-only")]
    pub memory: MemoryMode,

    /// How attempts after the first are played (see `eval --mode`).
    #[arg(long, value_enum, default_value = "reflexion")]
    pub mode: TrialMode,

    /// Who plays the turns before the one printed.
    #[arg(long, value_enum, default_value = "random")]
    pub policy: ScriptedPolicy,

    /// The seed of the scripted play.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs `lamer-host prompt`.
pub fn run(args: PromptArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.attempt >= 1 && args.turn >= 1,
        "--attempt and --turn count from 1"
    );
    anyhow::ensure!(
        !args.reflect || (args.attempt >= 2 && args.mode == TrialMode::Reflexion),
        "a reflection prompt comes before attempt 2 or later in reflexion mode (--attempt 2)"
    );
    let plugin = args.plugin.load()?;
    let config = RolloutConfig {
        attempts: args.attempt,
        group_size: 1,
        mode: args.mode,
        memory: args.memory,
        seed: args.seed,
        env_config: args.plugin.config_json()?,
        expert_hints: args.policy == ScriptedPolicy::Expert,
        ..RolloutConfig::default()
    };
    let mut policy: Box<dyn Policy> = match args.policy {
        ScriptedPolicy::Random => Box::new(RandomPolicy),
        ScriptedPolicy::Expert => Box::new(ExpertPolicy),
    };
    let task = Task::new(&args.split, args.task);
    let group = TaskGroup {
        id: 0,
        task: task.clone(),
    };
    let out = run_rollout(&plugin, policy.as_mut(), &[group], &config, &mut NoObserver)?;
    let (phase, turn) = if args.reflect {
        (Phase::Reflect, 0)
    } else {
        (Phase::Play, args.turn - 1)
    };
    let wanted = args.attempt - 1;
    if let Some(row) = out
        .rows
        .iter()
        .find(|r| r.phase == phase && r.attempt == wanted && r.turn == turn)
    {
        println!("{}", row.prompt);
        return Ok(());
    }
    if let Some(f) = out.trials.first().and_then(|t| t.failure.as_ref()) {
        anyhow::bail!("task {task}: {} failed: {}", f.call, f.message);
    }
    let played = out
        .rows
        .iter()
        .filter(|r| r.phase == Phase::Play && r.attempt == wanted)
        .count();
    match out.trials.first().and_then(|t| t.solved_at()) {
        Some(won) if won < wanted => anyhow::bail!(
            "the {} policy won task {task} in attempt {}, so there is no attempt {}; try {}",
            policy.name(),
            won + 1,
            args.attempt,
            match args.policy {
                ScriptedPolicy::Expert => "--policy random",
                ScriptedPolicy::Random => "another --seed",
            }
        ),
        _ => anyhow::bail!(
            "attempt {} of task {task} ended after {played} turns, before turn {}",
            args.attempt,
            args.turn
        ),
    }
}
