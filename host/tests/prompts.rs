//! Prompt snapshots: the play and reflect prompts of a whole three-attempt
//! trial, per memory mode. Adding an environment is one line in
//! `every_env_prompt_snapshots` (any `EnvFactory` works, e.g. a loaded plugin).

mod common;

use common::Loser;
use lamer_host::agent::MemoryMode;
use lamer_host::rollout::{NoObserver, Phase, RolloutConfig, TaskGroup, run_rollout};
use lamer_plugin::{EnvFactory, Runtime, RuntimeConfig, SandboxLimits};
use lamer_sdk::Task;

/// Plays one never-winning trial of `task` and renders every prompt and
/// response it produced, in call order.
fn trial_prompts(
    factory: &dyn EnvFactory,
    env_config: &str,
    task: Task,
    memory: MemoryMode,
) -> String {
    let config = RolloutConfig {
        memory,
        env_config: env_config.to_string(),
        expert_hints: true,
        ..RolloutConfig::default()
    };
    let out = run_rollout(
        factory,
        &mut Loser::default(),
        &[TaskGroup { id: 0, task }],
        &config,
        &mut NoObserver,
    )
    .unwrap();
    let mut text = String::new();
    for row in &out.rows {
        let what = match row.phase {
            Phase::Play => format!("play, turn {}", row.turn + 1),
            Phase::Reflect => "reflect".to_string(),
        };
        text.push_str(&format!(
            "==================== attempt {} · {what} ====================\n{}\n\
             -------------------- response --------------------\n{}\n\n",
            row.attempt + 1,
            row.prompt,
            row.response
        ));
    }
    text
}

fn snapshot_env(name: &str, factory: &dyn EnvFactory, env_config: &str, task: Task) {
    for memory in [
        MemoryMode::ReflectionOnly,
        MemoryMode::HistoryOnly,
        MemoryMode::HistoryAndReflection,
    ] {
        let text = trial_prompts(factory, env_config, task.clone(), memory);
        insta::assert_snapshot!(format!("{name}-{}", memory.as_str()), text);
    }
}

#[test]
fn every_env_prompt_snapshots() {
    // Three turns per attempt, so the play window briefs the oldest observation.
    snapshot_env(
        "keydoor",
        &common::keydoor(),
        r#"{"doors": 5, "max_turns": 3}"#,
        Task::new("test", 3),
    );
}

/// The real plugins, through the sandbox, exactly as `lamer-host eval` and
/// `train` see them.
#[test]
fn plugin_prompt_snapshots() {
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: None,
        ..RuntimeConfig::default()
    })
    .unwrap();
    for name in ["sokoban", "minesweeper", "webshop", "alfworld"] {
        let plugin = runtime
            .load(&lamer_tests::plugin_path(name), SandboxLimits::default())
            .unwrap();
        snapshot_env(name, &plugin, "{}", Task::new("test", 0));
    }
}
