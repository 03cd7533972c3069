//! Expert win rate on generated games, played through the environment's own calls (`open`,
//! `reset`, `expert_action`, `step`: what the wasm plugin runs) within the 50-command cap:
//! `cargo run --release -p lamer-plugin-alfworld --example alfworld_expert_rate -- train 1000`.
//!
//! The generated `test` and `ood` splits list 500 tasks; indices past that are generated and
//! played the same way (only the SDK session's range check is bypassed), so 1,000 games of
//! every split can be measured.
//!
//! Also reports, per task type, how many candidate games the generator redrew before keeping
//! each index's game: `unsolved` (the expert failed on them: the figure that matters) and
//! `unfit` (the drawn scene cannot host the task, e.g. no microwave for a heat task).

use std::collections::BTreeMap;

use alfworld::generator::{Split, generate};
use alfworld::{AlfWorld, COMMAND_CAP, Config};
use lamer_sdk::{Environment, Task};

#[derive(Default)]
struct Tally {
    games: u64,
    wins: u64,
    commands: usize,
    longest: usize,
    unsolved: u64,
    unfit: u64,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let split_name = args.get(1).map_or("test", String::as_str);
    let count: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let split = Split::parse(split_name)
        .ok_or_else(|| anyhow::anyhow!("unknown split {split_name}: train, test or ood"))?;
    let mut env = AlfWorld::open(Config {
        max_turns: COMMAND_CAP,
        ..Config::default()
    })?;
    let mut by_type: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    for index in 0..count {
        let generated = generate(split, index)?;
        env.reset(&Task::new(split_name, index))?;
        let (mut commands, mut won) = (0usize, false);
        while let Some(command) = env.expert_action() {
            let step = env.step(&command)?;
            commands += 1;
            won = step.won;
            if step.terminated || step.truncated {
                break;
            }
        }
        let won = won && commands <= COMMAND_CAP as usize;
        let tally = by_type.entry(generated.task_type.name()).or_default();
        tally.games += 1;
        tally.wins += u64::from(won);
        tally.commands += commands;
        tally.longest = tally.longest.max(commands);
        tally.unsolved += u64::from(generated.unsolved_candidates);
        tally.unfit += u64::from(generated.unfit_candidates);
        if !won {
            failures.push(format!("{split_name}/{index}"));
        }
    }
    let total = |f: fn(&Tally) -> u64| by_type.values().map(f).sum::<u64>();
    let (games, wins) = (total(|t| t.games), total(|t| t.wins));
    println!(
        "{split_name}: expert won {wins}/{games} ({:.1}%) within {COMMAND_CAP} commands; \
         redrawn candidates: unsolved {}, unfit {}",
        100.0 * wins as f64 / games.max(1) as f64,
        total(|t| t.unsolved),
        total(|t| t.unfit)
    );
    for (name, t) in &by_type {
        println!(
            "  {name}: won {}/{}, mean commands {:.1}, longest {}, redrawn: unsolved {}, unfit {}",
            t.wins,
            t.games,
            t.commands as f64 / t.games.max(1) as f64,
            t.longest,
            t.unsolved,
            t.unfit
        );
    }
    if !failures.is_empty() {
        println!("  not won: {}", failures.join(" "));
    }
    Ok(())
}
