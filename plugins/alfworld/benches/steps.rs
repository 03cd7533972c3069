//! Native speed of the ALFWorld plugin: steps with random admissible commands, resets and
//! restarts, on generated games. Compare with TextWorld via `bench/alfworld/bench_textworld.py`.

use alfworld::AlfWorld;
use criterion::{Criterion, criterion_group, criterion_main};
use lamer_sdk::{SeededRng, Session, Task};

fn steps(c: &mut Criterion) {
    let mut session = Session::<AlfWorld>::open(r#"{"max_turns": 1000}"#).unwrap();
    let mut rng = SeededRng::new(7);
    session.reset(&Task::new("test", 0)).unwrap();
    c.bench_function("alfworld step (random admissible command)", |b| {
        b.iter(|| {
            if session.is_over() {
                // Restart (11 µs) rather than reset, so the figure is the step itself.
                session.restart().unwrap();
            }
            let actions = session.admissible_actions().unwrap();
            let action = rng.choose(&actions).unwrap().clone();
            session.step(&action).unwrap()
        })
    });
    c.bench_function("alfworld reset (generate + load a game)", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % 500;
            session.reset(&Task::new("test", i)).unwrap()
        })
    });
    c.bench_function("alfworld restart", |b| {
        b.iter(|| session.restart().unwrap())
    });
}

criterion_group!(benches, steps);
criterion_main!(benches);
