//! Prints generated levels with their expert solutions and generation
//! statistics: `cargo run --release -p lamer-plugin-sokoban --example levels -- test 0 10`.

use lamer_sdk::{Environment, Task};
use sokoban::{Config, Sokoban};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let split = args.get(1).map_or("test", String::as_str);
    let start: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let count: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let verbose = count <= 20;
    let mut env = match Sokoban::open(Config::default()) {
        Ok(env) => env,
        Err(e) => return eprintln!("{e}"),
    };
    let (mut fallback, mut reseeded) = (0, 0);
    let mut lengths = std::collections::BTreeMap::new();
    let t0 = std::time::Instant::now();
    for index in start..start + count {
        let reset = match env.reset(&Task::new(split, index)) {
            Ok(r) => r,
            Err(e) => return eprintln!("{e}"),
        };
        let get = |k: &str| {
            reset
                .info
                .iter()
                .find(|p| p.key == k)
                .map(|p| p.value.clone())
                .unwrap_or_default()
        };
        if get("accepted") == "false" {
            fallback += 1;
        }
        if get("reseeds") != "0" {
            reseeded += 1;
        }
        *lengths.entry(get("solution_length")).or_insert(0) += 1;
        if verbose {
            println!("{split}/{index}: {:?}", reset.info);
            println!("{}", reset.observation);
            println!("expert: {:?}\n", env.expert_action());
        }
    }
    println!(
        "{count} levels in {:?}: fallback (last attempt used) {fallback}, reseeded {reseeded}",
        t0.elapsed()
    );
    println!("solution lengths: {lengths:?}");
}
