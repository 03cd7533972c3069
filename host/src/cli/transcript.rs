//! `lamer-host transcript`: one deterministic episode through the sandbox,
//! printed as text (the same format as `lamer_sdk::Transcript`'s snapshots) or
//! JSON.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use lamer_plugin::{EnvFactory, EnvSession, SessionError};
use lamer_sdk::{SeededRng, Task, Transcript, TranscriptStep};

use super::plugin_args::PluginArgs;
use super::terminal::safe_text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScriptedPolicy {
    /// A uniformly random admissible action each turn (seeded by --seed).
    Random,
    /// The environment's expert action each turn.
    Expert,
}

#[derive(Debug, Args)]
pub struct TranscriptArgs {
    #[command(flatten)]
    pub plugin: PluginArgs,

    /// The split to draw the task from.
    #[arg(long, default_value = "test")]
    pub split: String,

    /// The task index within the split.
    #[arg(long)]
    pub task: u64,

    /// A file of actions, one per line, played in order until the episode ends.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "policy",
        required_unless_present = "policy"
    )]
    pub actions: Option<PathBuf>,

    /// Play a scripted policy instead of an action file.
    #[arg(long, value_enum)]
    pub policy: Option<ScriptedPolicy>,

    /// Seed of the random policy.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    #[command(flatten)]
    pub output: super::output_args::FormatArgs,
}

/// Where the actions of a recorded episode come from.
pub enum ActionSource {
    List(Vec<String>),
    Random(Box<SeededRng>),
    Expert,
}

/// Plays one episode of `task` on `session` and records it.
pub fn record(
    session: &mut dyn EnvSession,
    env_name: &str,
    task: &Task,
    mut source: ActionSource,
) -> Result<Transcript, SessionError> {
    let reset = session.reset(task)?;
    let mut steps = Vec::new();
    let mut listed = 0;
    loop {
        let action = match &mut source {
            ActionSource::List(actions) => match actions.get(listed) {
                Some(a) => {
                    listed += 1;
                    a.clone()
                }
                None => break,
            },
            ActionSource::Random(rng) => {
                let actions = session.admissible_actions()?;
                rng.choose(&actions).cloned().unwrap_or_default()
            }
            ActionSource::Expert => match session.expert_action()? {
                Some(a) => a,
                None => break,
            },
        };
        let result = session.step(&action)?;
        let done = result.done();
        steps.push(TranscriptStep { action, result });
        if done {
            break;
        }
    }
    Ok(Transcript {
        env: env_name.to_string(),
        task: task.clone(),
        reset,
        steps,
    })
}

pub fn run(args: TranscriptArgs) -> anyhow::Result<()> {
    let plugin = args.plugin.load()?;
    let mut session = plugin.open(&args.plugin.config_json()?)?;
    let source = match (&args.actions, args.policy) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the action file {}", path.display()))?;
            ActionSource::List(text.lines().map(str::to_string).collect())
        }
        (None, Some(ScriptedPolicy::Random)) => {
            ActionSource::Random(Box::new(SeededRng::new(args.seed)))
        }
        (None, Some(ScriptedPolicy::Expert)) => ActionSource::Expert,
        (None, None) => anyhow::bail!("give --actions FILE or --policy random|expert"),
    };
    let task = Task::new(&args.split, args.task);
    let transcript = record(session.as_mut(), &plugin.info().name, &task, source)?;
    if args.output.is_json() {
        println!("{}", serde_json::to_string_pretty(&transcript)?);
    } else {
        println!("{}", safe_text(&transcript.to_string()));
    }
    Ok(())
}
