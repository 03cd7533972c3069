//! Expert win rate on a split: `cargo run --release -p lamer-plugin-sokoban
//! --example sokoban_expert_rate -- test 1000`.

use lamer_sdk::{Task, Transcript};
use sokoban::Sokoban;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let split = args.get(1).map_or("test", String::as_str);
    let count: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let config = args.get(3).map_or("{}", String::as_str);
    let (mut wins, mut mines, mut turns) = (0u64, 0u64, 0usize);
    for index in 0..count {
        match Transcript::record_expert::<Sokoban>(config, &Task::new(split, index)) {
            Ok(t) => {
                wins += u64::from(t.won());
                mines += u64::from(
                    t.steps
                        .last()
                        .is_some_and(|s| s.result.info_value("deadlock") == Some("true")),
                );
                turns += t.steps.len();
            }
            Err(e) => return eprintln!("{split}/{index}: {e}"),
        }
    }
    println!(
        "{split}: expert won {wins}/{count} ({:.1}%), deadlocked {mines}, ran out of turns {}, mean turns {:.2}",
        100.0 * wins as f64 / count as f64,
        count - wins - mines,
        turns as f64 / count as f64
    );
}
