//! Native throughput of the Sokoban environment: resets (level generation
//! with BFS acceptance) and steps (random valid single moves, each followed by
//! the BFS solvability check), through the SDK's native session.
//!
//! `cargo bench -p lamer-plugin-sokoban`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lamer_sdk::{SeededRng, Session, Task};
use sokoban::Sokoban;

fn reset(c: &mut Criterion) {
    let mut group = c.benchmark_group("sokoban");
    group.throughput(Throughput::Elements(1));
    let mut session = Session::<Sokoban>::open("{}").unwrap_or_else(|e| panic!("{e}"));
    let mut index = 0u64;
    group.bench_function("reset", |b| {
        b.iter(|| {
            index = (index + 1) % 100_000;
            session
                .reset(&Task::new("test", index))
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    let mut rng = SeededRng::new(1);
    session
        .reset(&Task::new("test", 0))
        .unwrap_or_else(|e| panic!("{e}"));
    group.bench_function("step", |b| {
        b.iter(|| {
            if session.is_over() {
                // A restart is a clone, cheap next to a step; a reset would
                // time level generation instead of stepping.
                session.restart().unwrap_or_else(|e| panic!("{e}"));
            }
            let action = ["up", "down", "left", "right"][rng.index(4)];
            session.step(action).unwrap_or_else(|e| panic!("{e}"))
        })
    });
    group.finish();
}

criterion_group!(benches, reset);
criterion_main!(benches);
