//! A learning test: on a toy task whose answer never changes (the prize is
//! always behind door 2 of 3), the tiny model is first taught the answer
//! *format* by SFT on uniformly random valid actions (it then succeeds at most
//! a third of the time), then trained with RL. Held-out success after training
//! must be clearly above success before it. Not timed.

use lamer_host::rollout::{NoObserver, RolloutConfig, TaskGroup, TrialMode, run_rollout};
use lamer_host::train::recipe::{Algo, Overrides, Recipe, Scale};
use lamer_host::train::sft::{SftConfig, export_model_dir, tokenize_demos, train_sft};
use lamer_host::train::trainer::{Learner, TrainOptions, train};
use lamer_plugin::NativeEnv;
use lamer_policy::{DType, Device, RandomPolicy, SamplingParams};
use lamer_sdk::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct NoConfig {}

/// Three doors; door 2 always wins, the others lose. One turn per attempt.
#[derive(Debug, Clone)]
struct LuckyDoor {
    done: bool,
}

impl Environment for LuckyDoor {
    type Config = NoConfig;

    fn info() -> EnvInfo {
        EnvInfo::new("luckydoor", "0.1.0", "Pick the right door.", 1)
            .with_split(SplitInfo::procedural("train", "Seeds.", 1 << 16))
            .with_split(SplitInfo::procedural("test", "Seeds.", 1 << 16))
    }
    fn open(_config: NoConfig) -> Result<Self, EnvError> {
        Ok(LuckyDoor { done: false })
    }
    fn max_turns(&self) -> u32 {
        1
    }
    fn reset(&mut self, _task: &Task) -> Result<ResetResult, EnvError> {
        self.done = false;
        Ok(ResetResult::new(
            "Door 1: closed\nDoor 2: closed\nDoor 3: closed",
        ))
    }
    fn step(&mut self, action: &str) -> Result<Step, EnvError> {
        let door = action.trim().trim_start_matches("open ").trim();
        let obs = "The door is open.";
        match door {
            "2" => Ok(Step::new(obs)
                .reward(1.0)
                .terminated(true)
                .won(true)
                .echo("open 2")),
            "1" | "3" => Ok(Step::new(obs).terminated(true).echo(format!("open {door}"))),
            _ => Ok(Step::new(obs)
                .reward(-0.1)
                .valid(false)
                .echo("no operation")),
        }
    }
    fn admissible_actions(&self) -> Vec<String> {
        (1..=3).map(|d| format!("open {d}")).collect()
    }
    fn prompt(&self) -> PromptPieces {
        PromptPieces::new(
            "You are an expert agent exploring a hall of doors.",
            "## Rules\nThree doors. Open one.\n\n## Goal\nOpen the door with the key.",
        )
        .initial_state_label("The initial state of the hall is:")
        .action_instruction(
            "Give your action inside <action> </action> tags, e.g. <action>open 2</action>.",
        )
        .reflect_instruction("Reflect.")
        .list_admissible_actions(true)
    }
}

fn recipe() -> Recipe {
    let mut r = Recipe::builtin("keydoor")
        .unwrap()
        .at_scale(Scale::Tiny, false);
    r.env.name = "luckydoor".into();
    r.env.config.clear();
    r.trial.max_turns = 1;
    Overrides {
        steps: Some(16),
        tasks_per_step: Some(4),
        group_size: Some(2),
        max_new_tokens: Some(12),
        val_every: Some(16),
        val_tasks: Some(48),
        save_every: Some(0),
        lr: Some(5e-4),
        mini_batch: Some(24),
        micro_batch: Some(24),
        ..Overrides::default()
    }
    .apply(&mut r);
    r
}

#[test]
fn rl_after_format_sft_clearly_raises_held_out_success() {
    let env = NativeEnv::<LuckyDoor>::new();
    let recipe = recipe();
    let dir = tempfile::tempdir().unwrap();

    // 1. SFT on random valid actions: the format, not the answer.
    let groups: Vec<TaskGroup> = (0..96)
        .map(|id| TaskGroup {
            id,
            task: Task::new("train", id as u64),
        })
        .collect();
    let demo_rollout = RolloutConfig {
        attempts: 1,
        group_size: 1,
        mode: TrialMode::ZeroShot,
        sampling: SamplingParams::greedy(8),
        seed: 11,
        ..RolloutConfig::default()
    };
    let rows = run_rollout(
        &env,
        &mut RandomPolicy,
        &groups,
        &demo_rollout,
        &mut NoObserver,
    )
    .unwrap()
    .rows;
    let mut learner = Learner::load(None, &recipe, &Device::Cpu, DType::F32).unwrap();
    let demos = tokenize_demos(&learner.policy, &rows).unwrap();
    let sft = SftConfig {
        epochs: 24,
        lr: 3e-3,
        batch: 16,
        ..SftConfig::default()
    };
    let history = train_sft(&mut learner, &demos, &sft, |_| {}).unwrap();
    assert!(history.last().unwrap().loss < history[0].loss);
    let sft_dir = export_model_dir(&learner, &dir.path().join("sft")).unwrap();

    // 2. RL (single-episode GiGPO) from the SFT model.
    let mut options = TrainOptions::new(recipe, Algo::Gigpo, dir.path().join("rl"));
    options.model = Some(sft_dir.display().to_string());
    let outcome = train(&env, options).unwrap();
    let before = outcome.metrics.first().unwrap();
    let after = outcome.metrics.last().unwrap();
    let (b, a) = (
        before.get("val/pass@1").unwrap(),
        after.get("val/pass@1").unwrap(),
    );
    eprintln!("held-out pass@1: before {b:.3}, after {a:.3}");
    // The SFT model has the format only partly and no preference for door 2.
    assert!(b < 0.6, "before = {b}");
    assert!(a >= b + 0.3, "before {b}, after {a}");
}
