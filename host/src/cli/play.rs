//! `lamer-host play`: a person plays an environment in the terminal.
//!
//! Each line you type is one action, sent to the plugin exactly as an agent's
//! `<action>` content would be. Lines starting with `:` are commands
//! (`:help`). Actions can also be piped on stdin, one per line.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use clap::Args;
use lamer_plugin::{EnvFactory, EnvSession};
use lamer_sdk::{StepResult, Task};

use super::plugin_args::PluginArgs;
use super::terminal::{one_line, safe_text};

#[derive(Debug, Args)]
pub struct PlayArgs {
    #[command(flatten)]
    pub plugin: PluginArgs,

    /// The split to draw the task from.
    #[arg(long, default_value = "test")]
    pub split: String,

    /// The task index within the split.
    #[arg(long, default_value_t = 0)]
    pub task: u64,

    /// Also print the environment's rules before playing.
    #[arg(long)]
    pub rules: bool,
}

const HELP: &str = "Commands: :actions (admissible actions), :expert (the oracle's move), \
                    :restart (same task, from the start), :next (the next task), :quit";

pub fn run(args: PlayArgs) -> anyhow::Result<()> {
    let plugin = args.plugin.load()?;
    let config = args.plugin.config_json()?;
    let mut session = plugin.open(&config).context("cannot open a session")?;
    let interactive = std::io::stdin().is_terminal();
    let mut task = Task::new(&args.split, args.task);

    if args.rules {
        let prompt = session.prompt()?;
        println!(
            "{}\n\n{}\n",
            safe_text(&prompt.role),
            safe_text(&prompt.rules)
        );
    }
    start(session.as_mut(), &task, interactive)?;

    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut total = 0.0;
    let mut over = false;
    loop {
        if interactive {
            print!("{}> ", if over { "(episode over) " } else { "" });
            std::io::stdout().flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line.context("cannot read stdin")?;
        match line.trim() {
            ":quit" | ":q" => break,
            ":help" | ":h" => println!("{HELP}"),
            ":actions" => println!("{}", safe_text(&session.admissible_actions()?.join(" | "))),
            ":expert" => match session.expert_action()? {
                Some(action) => println!("expert: {}", safe_text(&action)),
                None => println!("expert: (none)"),
            },
            ":restart" => {
                let reset = session.restart()?;
                println!("-- restarted {task} --\n{}", safe_text(&reset.observation));
                (total, over) = (0.0, false);
            }
            ":next" => {
                task = Task::new(&task.split, task.index + 1);
                start(session.as_mut(), &task, interactive)?;
                (total, over) = (0.0, false);
            }
            _ if over => println!("The episode is over. {HELP}"),
            _ => {
                let result = session.step(&line)?;
                total += result.reward;
                print_step(&line, &result, total);
                if result.done() {
                    over = true;
                    let outcome = if result.won { "won" } else { "not won" };
                    println!("-- episode over: {outcome}, total reward {total:.3} --");
                    if !interactive {
                        break;
                    }
                }
            }
        }
    }
    Ok(())
}

fn start(session: &mut dyn EnvSession, task: &Task, interactive: bool) -> anyhow::Result<()> {
    let reset = session
        .reset(task)
        .with_context(|| format!("cannot start task {task}"))?;
    println!("-- task {task} --\n{}", safe_text(&reset.observation));
    if interactive {
        println!("(type an action; {HELP})");
    }
    Ok(())
}

fn print_step(action: &str, r: &StepResult, total: f64) {
    println!(
        "action {action:?} -> {:?}{}  reward {:+.3} (total {total:.3})  terminated {}  truncated {}  won {}",
        r.action_echo,
        if r.action_valid { "" } else { " [invalid]" },
        r.reward,
        r.terminated,
        r.truncated,
        r.won
    );
    for pair in &r.info {
        if pair.value.len() < 200 {
            println!("  {} = {}", one_line(&pair.key), one_line(&pair.value));
        }
    }
    println!("{}", safe_text(&r.observation));
}
