//! The warm start of the built-in model: it learns a plugin's expert, is
//! cached by what determines it, is reused, and makes a better starting
//! point than the untrained model on held-out tasks. A plugin without an
//! expert is detected. Not timed.

use lamer_host::train::recipe::{Algo, Overrides, Recipe, Scale, ValTaskDraw};
use lamer_host::train::sft::SftConfig;
use lamer_host::train::trainer::validate_model;
use lamer_host::train::warm_start::{has_expert, untrained_validation, warm_start};
use lamer_plugin::NativeEnv;
use lamer_sdk::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct NoConfig {}

/// Three doors, door 2 wins; `EXPERT` says whether the environment has an
/// expert that knows it.
#[derive(Debug, Clone)]
struct Doors<const EXPERT: bool>;

impl<const EXPERT: bool> Environment for Doors<EXPERT> {
    type Config = NoConfig;

    fn info() -> EnvInfo {
        EnvInfo::new("doors", "0.1.0", "Pick the right door.", 1)
            .with_split(SplitInfo::procedural("train", "Seeds.", 1 << 16))
            .with_split(SplitInfo::procedural("test", "Seeds.", 1 << 16))
    }
    fn open(_config: NoConfig) -> Result<Self, EnvError> {
        Ok(Doors)
    }
    fn max_turns(&self) -> u32 {
        1
    }
    fn reset(&mut self, _task: &Task) -> Result<ResetResult, EnvError> {
        Ok(ResetResult::new(
            "Door 1: closed\nDoor 2: closed\nDoor 3: closed",
        ))
    }
    fn step(&mut self, action: &str) -> Result<Step, EnvError> {
        let obs = "The door is open.";
        match action.trim() {
            "open 2" => Ok(Step::new(obs).reward(1.0).terminated(true).won(true)),
            "open 1" | "open 3" => Ok(Step::new(obs).terminated(true)),
            _ => Ok(Step::new(obs).reward(-0.1).valid(false)),
        }
    }
    fn admissible_actions(&self) -> Vec<String> {
        (1..=3).map(|d| format!("open {d}")).collect()
    }
    fn expert_action(&self) -> Option<String> {
        EXPERT.then(|| "open 2".to_string())
    }
    fn prompt(&self) -> PromptPieces {
        PromptPieces::new(
            "You are an expert agent exploring a hall of doors.",
            "## Rules\nThree doors. Open one.\n\n## Goal\nOpen the door with the key.",
        )
        .initial_state_label("The initial state of the hall is:")
        .action_instruction(
            "Give your action inside <action> </action> tags, e.g. <action>open 1</action>.",
        )
        .reflect_instruction("Reflect.")
        .list_admissible_actions(true)
    }
}

fn recipe() -> Recipe {
    let mut r = Recipe::builtin("keydoor")
        .unwrap()
        .at_scale(Scale::Tiny, false);
    r.env.name = "doors".into();
    r.env.config.clear();
    r.trial.max_turns = 1;
    Overrides {
        max_new_tokens: Some(12),
        val_tasks: Some(16),
        val_task_draw: Some(ValTaskDraw::Fixed),
        ..Overrides::default()
    }
    .apply(&mut r);
    r
}

fn sft(seed: u64) -> SftConfig {
    SftConfig {
        expert_tasks: 32,
        reflection_tasks: 8,
        recovery_tasks: 0,
        epochs: 12,
        lr: 3e-3,
        batch: 8,
        micro_batch: 4,
        grad_clip: 1.0,
        seed,
    }
}

#[test]
fn an_expert_is_detected_and_its_absence_too() {
    let r = recipe();
    assert!(has_expert(&NativeEnv::<Doors<true>>::new(), &r).unwrap());
    assert!(!has_expert(&NativeEnv::<Doors<false>>::new(), &r).unwrap());
}

#[test]
fn the_warm_start_learns_the_expert_is_cached_and_reused() {
    let env = NativeEnv::<Doors<true>>::new();
    let r = recipe();
    let cache = tempfile::tempdir().unwrap();

    let mut epochs = 0;
    let first = warm_start(&env, &r, &sft(0), cache.path(), |_| epochs += 1).unwrap();
    assert!(!first.reused);
    assert_eq!(epochs, 12, "every SFT epoch is reported");
    assert!(first.dir.join("config.json").is_file());
    assert!(first.dir.join("warm_start.json").is_file());
    assert!(first.record.demonstrations > 32, "{:?}", first.record);
    let losses: Vec<f64> = first.record.epochs.iter().map(|e| e.loss).collect();
    assert!(losses.last().unwrap() < &(losses[0] * 0.5), "{losses:?}");
    // Nothing half-written is left beside it.
    let entries: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "{entries:?}");

    // The same demonstrations: reused, not retrained.
    let again = warm_start(&env, &r, &sft(0), cache.path(), |_| panic!("retrained")).unwrap();
    assert!(again.reused);
    assert_eq!(again.dir, first.dir);
    // Other demonstrations (another seed): another warm start.
    let quick = SftConfig {
        epochs: 1,
        ..sft(1)
    };
    let other = warm_start(&env, &r, &quick, cache.path(), |_| {}).unwrap();
    assert!(!other.reused);
    assert_ne!(other.dir, first.dir);

    // On held-out tasks the warm start beats the untrained model.
    let dir = first.dir.display().to_string();
    let before = untrained_validation(&env, &r, Algo::Lamer, &first).unwrap();
    let after = validate_model(&env, Some(&dir), &r, Algo::Lamer).unwrap();
    let pass1 = |m: &lamer_host::train::metrics::StepMetrics| m.get("val/pass@1").unwrap();
    let valid = |m: &lamer_host::train::metrics::StepMetrics| {
        1.0 - m.get("val/invalid_action_ratio").unwrap()
    };
    assert!(pass1(&after) >= 0.9, "after {after:?}");
    assert!(pass1(&before) <= 0.2, "before {before:?}");
    assert!(
        valid(&after) > valid(&before) + 0.5,
        "{before:?} → {after:?}"
    );
    // The untrained figures are cached with the warm start.
    let cached = std::fs::read_dir(&first.dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("untrained-validation-")
        });
    assert!(cached);
    let reread = untrained_validation(&env, &r, Algo::Lamer, &first).unwrap();
    assert!((pass1(&reread) - pass1(&before)).abs() < 1e-12);
}
