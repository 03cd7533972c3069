//! Step throughput of the WebShop environment natively, and the cost of
//! building the shared world (catalogue + index + goals).
//!
//! The step mix per episode is the one `bench/webshop/bm25_baseline.py`
//! replays in Python: one search with a goal instruction, then four clicks
//! (the second result, an option value or `description`, `< prev`, `next >`).
//!
//! ```text
//! cargo bench -p lamer-plugin-webshop --bench webshop
//! ```

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lamer_sdk::{Session, Task};
use std::hint::black_box;
use webshop::WebShop;
use webshop::world::{Source, World};

/// One episode of the fixed mix: search, open the second result, click its
/// first option value (or `description`), `< prev`, `next >`. Returns the steps.
fn episode(base: &Session<WebShop>, query: &str) -> u64 {
    let mut s = base.clone();
    black_box(s.step(&format!("search[{query}]")).unwrap().observation);
    let shop = s.env().shop().unwrap();
    let Some(&second) = shop.page_results().get(1) else {
        return 1;
    };
    let product = &shop.world().catalogue.products[second];
    let asin = product.asin.to_lowercase();
    let option = product
        .options
        .first()
        .and_then(|(_, values)| values.first())
        .cloned()
        .unwrap_or_else(|| "description".to_string());
    for action in [
        format!("click[{asin}]"),
        format!("click[{option}]"),
        "click[< prev]".to_string(),
        "click[next >]".to_string(),
    ] {
        black_box(s.step(&action).unwrap().observation);
    }
    5
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("webshop");
    group.sample_size(10);
    group.bench_function("build_world", |b| {
        b.iter(|| black_box(World::build(&Source::Generated, 0).unwrap()))
    });

    group.bench_function("open_and_reset_cached", |b| {
        b.iter(|| {
            let mut s = Session::<WebShop>::open("{}").unwrap();
            black_box(s.reset(&Task::new("test", 5)).unwrap());
        })
    });

    let sessions: Vec<(Session<WebShop>, String)> = (0..100)
        .map(|i| {
            let mut s = Session::<WebShop>::open("{}").unwrap();
            let r = s.reset(&Task::new("test", i)).unwrap();
            (s, r.observation)
        })
        .collect();
    // Steps per pass over the 100 episodes, for the throughput figure.
    let steps: u64 = sessions.iter().map(|(s, q)| episode(s, q)).sum();
    group.throughput(Throughput::Elements(steps));
    group.sample_size(20);
    group.bench_function("step_mix_100_episodes", |b| {
        b.iter(|| {
            for (s, q) in &sessions {
                black_box(episode(s, q));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
