//! End to end: the tiny model trains on keydoor (natively, through
//! `EnvFactory`) for a few steps; rows, advantages, metrics and checkpoints
//! are checked, and a resumed run equals an uninterrupted one bit for bit.

use std::path::Path;

use keydoor::KeyDoor;
use lamer_host::rollout::Phase;
use lamer_host::train::checkpoint::{POLICY_DIR, load_checkpoint};
use lamer_host::train::recipe::{Algo, Overrides, Recipe, Scale};
use lamer_host::train::trainer::{TrainOptions, train};
use lamer_plugin::NativeEnv;
use lamer_policy::memory::Checkpointing;

fn tiny_recipe(steps: usize) -> Recipe {
    let mut recipe = Recipe::builtin("keydoor")
        .unwrap()
        .at_scale(Scale::Tiny, false);
    Overrides {
        steps: Some(steps),
        tasks_per_step: Some(2),
        group_size: Some(2),
        max_new_tokens: Some(8),
        val_every: Some(2),
        val_tasks: Some(2),
        save_every: Some(1),
        mini_batch: Some(8),
        micro_batch: Some(3),
        ..Overrides::default()
    }
    .apply(&mut recipe);
    recipe
}

fn weights(dir: &Path) -> Vec<(String, Vec<u32>)> {
    let map = candle_core::safetensors::load(
        dir.join(POLICY_DIR).join("model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let mut out: Vec<(String, Vec<u32>)> = map
        .into_iter()
        .map(|(name, t)| {
            let bits = t
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .into_iter()
                .map(f32::to_bits)
                .collect();
            (name, bits)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn lamer_steps_record_rows_advantages_metrics_and_checkpoints() {
    let env = NativeEnv::<KeyDoor>::new();
    let dir = tempfile::tempdir().unwrap();
    let options = TrainOptions::new(tiny_recipe(2), Algo::Lamer, dir.path());
    let outcome = train(&env, options).unwrap();
    assert_eq!(outcome.step, 2);
    assert!(!outcome.interrupted);

    // Rows: token ids and sampling log-probs end to end.
    let rows = &outcome.last_rows;
    assert!(!rows.is_empty());
    for row in rows {
        assert!(!row.prompt_ids.is_empty());
        assert_eq!(row.logprobs.len(), row.response_ids.len());
        assert!(row.logprobs.iter().all(|l| l.is_finite() && *l <= 0.0));
    }
    // 2 tasks × 2 trials; every trial plays attempt 0.
    let first_turns = rows
        .iter()
        .filter(|r| r.phase == Phase::Play && r.attempt == 0 && r.turn == 0)
        .count();
    assert_eq!(first_turns, 4);
    // A random tiny model fails, so trials reflect and play later attempts.
    assert!(rows.iter().any(|r| r.phase == Phase::Reflect));
    assert!(rows.iter().any(|r| r.attempt == 2));

    // Advantages: one per row, finite; GiGPO's terms are centred per group,
    // so they cannot all be positive.
    assert_eq!(outcome.last_advantages.len(), rows.len());
    assert!(outcome.last_advantages.iter().all(|a| a.is_finite()));

    // Metrics: validation before training, then one record per step.
    let steps: Vec<usize> = outcome.metrics.iter().map(|m| m.step).collect();
    assert_eq!(steps, vec![0, 1, 2]);
    for key in ["val/pass@1", "val/pass@2", "val/pass@3"] {
        assert!(outcome.metrics[0].get(key).is_some(), "{key}");
        assert!(outcome.metrics[2].get(key).is_some(), "{key}");
    }
    let step1 = &outcome.metrics[1];
    for key in [
        "episode/success_rate",
        "actor/pg_loss",
        "actor/entropy",
        "actor/grad_norm",
        "actor/pg_clipfrac",
        "response_length/mean",
        "timing_s/step",
    ] {
        assert!(step1.get(key).is_some(), "missing {key}");
    }
    assert!(step1.get("actor/entropy").unwrap() > 0.0);
    assert!(step1.get("actor/grad_norm").unwrap() > 0.0);
    assert!(
        step1.get("val/pass@1").is_none(),
        "validation runs every 2 steps"
    );
    let jsonl = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 3);
    let svg = std::fs::read_to_string(dir.path().join("curves.svg")).unwrap();
    assert!(svg.contains("policy-gradient loss") && svg.contains("<polyline"));

    // Checkpoints: the latest is step 2, with weights, optimiser, state, recipe.
    let ckpt = load_checkpoint(&dir.path().join("checkpoints")).unwrap();
    assert_eq!(ckpt.state.step, 2);
    assert_eq!(ckpt.state.algo, Algo::Lamer);
    assert!(ckpt.optimizer_file().is_file());
    assert_eq!(
        Recipe::from_toml(&ckpt.recipe_toml, "ckpt").unwrap(),
        tiny_recipe(2)
    );
    // The weights moved from step 1 to step 2.
    let one = load_checkpoint(&dir.path().join("checkpoints/step-000001")).unwrap();
    assert_ne!(weights(&one.dir), weights(&ckpt.dir));
    // The final model is exported as a loadable model directory.
    assert!(dir.path().join("model/config.json").is_file());
    assert!(dir.path().join("model/model.safetensors").is_file());
    lamer_policy::LlmPolicy::load(
        &dir.path().join("model"),
        &lamer_policy::Device::Cpu,
        lamer_policy::DType::F32,
    )
    .unwrap();
}

#[test]
fn resumed_run_equals_uninterrupted_run_bitwise() {
    let env = NativeEnv::<KeyDoor>::new();
    let recipe = tiny_recipe(3);

    let whole = tempfile::tempdir().unwrap();
    let a = train(
        &env,
        TrainOptions::new(recipe.clone(), Algo::Gigpo, whole.path()),
    )
    .unwrap();
    assert_eq!(a.step, 3);

    let parts = tempfile::tempdir().unwrap();
    let mut first = TrainOptions::new(recipe.clone(), Algo::Gigpo, parts.path());
    first.max_steps_this_run = Some(1);
    let b1 = train(&env, first).unwrap();
    assert!(b1.interrupted);
    assert_eq!(b1.step, 1);
    // An interrupted run still leaves a model directory `eval` can load.
    assert!(parts.path().join("model/config.json").is_file());
    assert!(parts.path().join("model/model.safetensors").is_file());

    // The resumed run takes its settings from the checkpoint, not from here.
    let mut other = recipe.clone();
    other.optim.lr *= 10.0;
    let mut second = TrainOptions::new(other, Algo::Lamer, parts.path());
    second.resume = Some(parts.path().to_path_buf());
    let b2 = train(&env, second).unwrap();
    assert_eq!(b2.step, 3);

    let ca = load_checkpoint(&whole.path().join("checkpoints")).unwrap();
    let cb = load_checkpoint(&parts.path().join("checkpoints")).unwrap();
    assert_eq!(ca.state, cb.state);
    assert_eq!(weights(&ca.dir), weights(&cb.dir));
    assert_eq!(
        std::fs::read(ca.optimizer_file()).unwrap(),
        std::fs::read(cb.optimizer_file()).unwrap()
    );
    // The metrics agree too, except the wall-clock timings.
    let strip = |ms: &[lamer_host::train::metrics::StepMetrics]| {
        ms.iter()
            .map(|m| {
                let mut m = m.clone();
                m.values.retain(|k, _| !k.starts_with("timing_s/"));
                m
            })
            .collect::<Vec<_>>()
    };
    // (Records of steps before the resume come back from the JSON file, so
    // compare values to a relative 1e-12: JSON float parsing may differ by an ulp.)
    let (sa, sb) = (strip(&a.metrics), strip(&b2.metrics));
    assert_eq!(sa.len(), sb.len());
    for (x, y) in sa.iter().zip(&sb) {
        assert_eq!(x.step, y.step);
        assert_eq!(
            x.values.keys().collect::<Vec<_>>(),
            y.values.keys().collect::<Vec<_>>()
        );
        for (k, v) in &x.values {
            let w = y.values[k];
            assert!(
                (v - w).abs() <= 1e-12 * v.abs().max(1.0),
                "step {} {k}: {v} vs {w}",
                x.step
            );
        }
    }
}

#[test]
fn activation_checkpointing_trains_the_same_weights() {
    let env = NativeEnv::<KeyDoor>::new();
    let run = |setting: Checkpointing| {
        let dir = tempfile::tempdir().unwrap();
        let mut recipe = tiny_recipe(2);
        recipe.optim.activation_checkpointing = setting;
        let outcome = train(&env, TrainOptions::new(recipe, Algo::Lamer, dir.path())).unwrap();
        let last = load_checkpoint(&dir.path().join("checkpoints")).unwrap();
        (outcome.metrics, weights(&last.dir))
    };
    let (kept_metrics, kept) = run(Checkpointing::Off);
    let (recomputed_metrics, recomputed) = run(Checkpointing::On);
    let grad_norm = |ms: &[lamer_host::train::metrics::StepMetrics]| {
        ms.iter()
            .filter_map(|m| m.get("actor/grad_norm"))
            .collect::<Vec<_>>()
    };
    let (a, b) = (grad_norm(&kept_metrics), grad_norm(&recomputed_metrics));
    assert_eq!(a.len(), 2);
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-5 * x.abs(), "grad norm {x} vs {y}");
    }
    assert_eq!(kept.len(), recomputed.len());
    for ((name, x), (_, y)) in kept.iter().zip(&recomputed) {
        let worst = x
            .iter()
            .zip(y)
            .map(|(p, q)| (f32::from_bits(*p) - f32::from_bits(*q)).abs())
            .fold(0f32, f32::max);
        assert!(worst <= 1e-6, "{name}: {worst}");
    }
}
