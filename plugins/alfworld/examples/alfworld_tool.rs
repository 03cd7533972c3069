//! Command-line access to the generator and the engine, for the differential test against
//! TextWorld (`bench/alfworld/`).
//!
//! - `alfworld_tool game <split> <index>`: the generated `game.tw-pddl` JSON.
//! - `alfworld_tool walks <split> <first> <count> <steps> <seed>`: one JSON line per game:
//!   the game file and a walk that mixes expert, random admissible and invalid commands,
//!   with our observation and full admissible list (including `help`) after each command.

use alfworld::generator::{Split, generate};
use alfworld::{AlfWorld, COMMAND_CAP};
use lamer_sdk::{SeededRng, Session, Task, mix_seed};
use serde_json::json;

fn usage() -> ! {
    eprintln!(
        "usage: alfworld_tool game <split> <index>\n       alfworld_tool walks <split> <first> <count> <steps> <seed>"
    );
    std::process::exit(2)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> T {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| usage())
}

fn full_admissible(session: &Session<AlfWorld>) -> Vec<String> {
    let env = session.env();
    match (env.game(), env.state()) {
        (Some(g), Some(s)) => g.world.admissible(s).into_iter().map(|(c, _)| c).collect(),
        _ => Vec::new(),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let split_name: String = arg(&args, 2);
    let split = Split::parse(&split_name).unwrap_or_else(|| usage());
    match args.get(1).map(String::as_str) {
        Some("game") => {
            let g = generate(split, arg(&args, 3))?;
            println!("{}", serde_json::to_string(&g.file)?);
        }
        Some("walks") => {
            let (first, count, steps, seed): (u64, u64, usize, u64) =
                (arg(&args, 3), arg(&args, 4), arg(&args, 5), arg(&args, 6));
            for index in first..first + count {
                let g = generate(split, index)?;
                let mut session =
                    Session::<AlfWorld>::open(&format!(r#"{{"max_turns": {COMMAND_CAP}}}"#))?;
                let reset = session.reset(&Task::new(split_name.clone(), index))?;
                let mut rng = SeededRng::new(mix_seed(seed, index));
                let mut records = Vec::new();
                let admissible0 = full_admissible(&session);
                let mut admissible = admissible0.clone();
                for _ in 0..steps {
                    if session.is_over() {
                        break;
                    }
                    let roll = rng.unit();
                    let command = if roll < 0.25 {
                        session.expert_action()?.unwrap_or_else(|| "look".into())
                    } else if roll < 0.9 {
                        rng.choose(&admissible).cloned().unwrap_or_default()
                    } else {
                        // Invalid or borderline commands: examine things not held, odd text.
                        let names: Vec<String> = session
                            .env()
                            .game()
                            .map(|g| g.world.objects.iter().map(|o| o.name.clone()).collect())
                            .unwrap_or_default();
                        match rng.below(3) {
                            0 => format!(
                                "examine {}",
                                rng.choose(&names).cloned().unwrap_or_default()
                            ),
                            1 => format!(
                                "take {} from nowhere",
                                rng.choose(&names).cloned().unwrap_or_default()
                            ),
                            _ => "jump around".into(),
                        }
                    };
                    let r = session.step(&command)?;
                    admissible = full_admissible(&session);
                    records.push(json!({
                        "command": command,
                        "observation": r.observation,
                        "won": r.won,
                        "admissible": if session.is_over() { Vec::new() } else { admissible.clone() },
                    }));
                }
                let line = json!({
                    "split": split_name,
                    "index": index,
                    "scene": g.scene,
                    "task_type": g.task_type.name(),
                    "game": g.file,
                    "intro": reset.observation,
                    "admissible": admissible0,
                    "steps": records,
                });
                println!("{line}");
            }
        }
        _ => usage(),
    }
    Ok(())
}
