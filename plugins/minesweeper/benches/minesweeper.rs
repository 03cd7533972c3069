//! Native throughput of the MineSweeper environment: resets (board, first
//! click and its cascade) and steps (uniformly random cells, as the Python
//! anchor clicks), through the SDK's native session.
//!
//! `cargo bench -p lamer-plugin-minesweeper`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lamer_sdk::{SeededRng, Session, Task};
use minesweeper::MineSweeper;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("minesweeper");
    group.throughput(Throughput::Elements(1));
    let mut session = Session::<MineSweeper>::open("{}").unwrap_or_else(|e| panic!("{e}"));
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
                session.restart().unwrap_or_else(|e| panic!("{e}"));
            }
            let action = format!("({}, {})", rng.index(6) + 1, rng.index(6) + 1);
            session.step(&action).unwrap_or_else(|e| panic!("{e}"))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
