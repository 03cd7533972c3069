//! Costs of the plugin runtime: loading a component cold (compile) and cached
//! (deserialize), opening a session (store + instantiate + `session.open`), and
//! keydoor steps in wasm against the same code run natively.
//!
//! `cargo bench -p lamer-tests --bench plugin_runtime`; results in BENCHMARKS.md.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keydoor::KeyDoor;
use lamer_plugin::{EnvFactory, NativeEnv, Runtime, RuntimeConfig, SandboxLimits};
use lamer_sdk::Task;
use lamer_tests::plugin_path;

fn runtime(cache_dir: Option<std::path::PathBuf>) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

fn load(c: &mut Criterion) {
    let path = plugin_path("keydoor");
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    let cold = runtime(None);
    group.bench_function("cold_compile", |b| {
        b.iter(|| cold.load(&path, SandboxLimits::default()).unwrap())
    });
    let cache = tempfile::tempdir().unwrap();
    let cached = runtime(Some(cache.path().to_path_buf()));
    assert!(
        !cached
            .load(&path, SandboxLimits::default())
            .unwrap()
            .cache_hit()
    );
    group.bench_function("cached", |b| {
        b.iter(|| {
            let plugin = cached.load(&path, SandboxLimits::default()).unwrap();
            assert!(plugin.cache_hit());
            plugin
        })
    });
    group.finish();
}

fn sessions(c: &mut Criterion) {
    for (name, instance_slots) in [("pooled", Some(1024)), ("on_demand", None)] {
        let plugin = Runtime::new(RuntimeConfig {
            cache_dir: None,
            instance_slots,
            ..RuntimeConfig::default()
        })
        .unwrap()
        .load(&plugin_path("keydoor"), SandboxLimits::default())
        .unwrap();
        let mut group = c.benchmark_group(format!("session_{name}"));
        // Opening alone: sessions are dropped outside the timed region, in
        // chunks that stay well inside the pool.
        group.bench_function("open", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let chunk = left.min(256);
                    let mut open = Vec::with_capacity(chunk as usize);
                    let started = Instant::now();
                    for _ in 0..chunk {
                        open.push(plugin.open("{}").unwrap());
                    }
                    total += started.elapsed();
                    drop(open);
                    left -= chunk;
                }
                total
            })
        });
        group.bench_function("open_and_drop", |b| b.iter(|| plugin.open("{}").unwrap()));
        group.finish();
    }
}

/// A reset-and-play cycle over 64 tasks with 9 doors and 8 turns, opening
/// doors in order until the episode ends. Returns the number of steps.
fn play_cycle(session: &mut dyn lamer_plugin::EnvSession) -> u64 {
    const ACTIONS: [&str; 8] = [
        "open 1", "open 2", "open 3", "open 4", "open 5", "open 6", "open 7", "open 8",
    ];
    let mut steps = 0;
    for index in 0..64 {
        session.reset(&Task::new("train", index)).unwrap();
        for action in ACTIONS {
            steps += 1;
            if session.step(action).unwrap().done() {
                break;
            }
        }
    }
    steps
}

fn steps(c: &mut Criterion) {
    const CONFIG: &str = r#"{"doors": 9, "max_turns": 8}"#;
    let plugin = runtime(None)
        .load(&plugin_path("keydoor"), SandboxLimits::default())
        .unwrap();
    let native = NativeEnv::<KeyDoor>::new();
    let mut wasm_session = plugin.open(CONFIG).unwrap();
    let mut native_session = native.open(CONFIG).unwrap();
    let steps_per_cycle = play_cycle(native_session.as_mut());
    assert_eq!(play_cycle(wasm_session.as_mut()), steps_per_cycle);

    let mut group = c.benchmark_group("keydoor_steps");
    group.throughput(Throughput::Elements(steps_per_cycle));
    group.bench_function("wasm", |b| b.iter(|| play_cycle(wasm_session.as_mut())));
    group.bench_function("native", |b| b.iter(|| play_cycle(native_session.as_mut())));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = load, sessions, steps
}
criterion_main!(benches);
