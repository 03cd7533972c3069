//! Score distributions of the expert and of a random policy on the 500 test
//! goals (12 turns each), as recorded in BENCHMARKS.md:
//!
//! ```text
//! cargo run --release -p lamer-plugin-webshop --example score_distribution
//! ```
//!
//! The random policy picks uniformly among the admissible actions; for
//! `search[<your query>]` it types three random words of the instruction.

use lamer_sdk::{SeededRng, Session, Task};
use webshop::WebShop;

/// Plays one episode; returns the purchase score (0 without a purchase) and turns.
fn play(index: u64, random: Option<&mut SeededRng>) -> (f64, u32) {
    let mut s = Session::<WebShop>::open("{}").expect("default config opens");
    let instruction = s
        .reset(&Task::new("test", index))
        .expect("test goal exists")
        .observation;
    let words: Vec<&str> = instruction.split_whitespace().collect();
    let mut rng = random;
    let mut score = 0.0;
    while !s.is_over() {
        let action = match rng.as_deref_mut() {
            None => match s.expert_action().expect("reset") {
                Some(a) => a,
                None => break,
            },
            Some(rng) => {
                let actions = s.admissible_actions().expect("reset");
                let pick = actions[rng.index(actions.len())].clone();
                if pick == "search[<your query>]" {
                    let q: Vec<&str> = (0..3).map(|_| words[rng.index(words.len())]).collect();
                    format!("search[{}]", q.join(" "))
                } else {
                    pick
                }
            }
        };
        let r = s.step(&action).expect("step");
        if r.terminated {
            score = r
                .info_value("task_score")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
        }
    }
    (score, s.turns())
}

fn report(name: &str, results: &[(f64, u32)]) {
    let n = results.len() as f64;
    let bucket = |lo: f64, hi: f64| results.iter().filter(|(s, _)| *s >= lo && *s < hi).count();
    let perfect = results.iter().filter(|(s, _)| *s == 1.0).count();
    let zero = results.iter().filter(|(s, _)| *s == 0.0).count();
    let mean = results.iter().map(|(s, _)| s).sum::<f64>() / n;
    let turns = results.iter().map(|(_, t)| f64::from(*t)).sum::<f64>() / n;
    println!(
        "{name}: n={} mean_score={mean:.3} score=1.0: {perfect} ({:.1}%) | 0.5≤s<1: {} | 0<s<0.5: {} | 0: {zero} | mean turns {turns:.2}",
        results.len(),
        100.0 * perfect as f64 / n,
        bucket(0.5, 1.0),
        results.iter().filter(|(s, _)| *s > 0.0 && *s < 0.5).count(),
    );
}

fn main() {
    let expert: Vec<(f64, u32)> = (0..500).map(|i| play(i, None)).collect();
    report("expert", &expert);
    let mut rng = SeededRng::new(7);
    let random: Vec<(f64, u32)> = (0..500).map(|i| play(i, Some(&mut rng))).collect();
    report("random", &random);
}
