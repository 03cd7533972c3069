//! Evaluation end to end on keydoor with scripted policies.

mod common;

use common::{Capped, Loser, keydoor};
use lamer_host::eval::{EvalConfig, EvalError, EvalReport, evaluate, write_outputs};
use lamer_host::rollout::{NoObserver, RolloutConfig, TrialMode, TrialResult};
use lamer_policy::{ExpertPolicy, RandomPolicy};

fn config(tasks: u64) -> EvalConfig {
    EvalConfig {
        split: "test".into(),
        first_task: 0,
        tasks,
        batch_tasks: 0,
        diversity_samples: 0,
        rollout: RolloutConfig {
            expert_hints: true,
            seed: 11,
            ..RolloutConfig::default()
        },
    }
}

#[test]
fn the_expert_solves_everything_at_once() {
    let out = evaluate(&keydoor(), &mut ExpertPolicy, &config(6), &mut NoObserver).unwrap();
    let r = &out.report;
    assert_eq!(r.pass_at_k, vec![1.0, 1.0, 1.0]);
    assert_eq!(r.solved_at_attempt, vec![6, 0, 0]);
    assert_eq!(r.episodes_per_attempt, vec![6, 0, 0]);
    assert_eq!(r.mean_episode_return, 1.0);
    assert_eq!(r.invalid_action_ratio, 0.0);
    assert_eq!(r.llm_calls, 6);
    assert_eq!(r.response_length_unit, "chars");
    assert_eq!(
        r.mean_response_length,
        "<action>open 1</action>".len() as f64
    );
    assert_eq!(
        (r.env.as_str(), r.mode.as_str(), r.tasks),
        ("keydoor", "reflexion", 6)
    );
}

#[test]
fn a_loser_never_passes_and_plays_every_attempt() {
    let out = evaluate(
        &keydoor(),
        &mut Loser::default(),
        &config(4),
        &mut NoObserver,
    )
    .unwrap();
    let r = &out.report;
    assert_eq!(r.pass_at_k, vec![0.0, 0.0, 0.0]);
    assert_eq!(r.episodes_per_attempt, vec![4, 4, 4]);
    assert_eq!(r.mean_return_per_attempt, vec![0.0, 0.0, 0.0]);
    // 3 attempts × 2 turns + 2 reflections per task.
    assert_eq!(r.llm_calls, 4 * 8);
}

#[test]
fn random_pass_at_k_matches_the_trials_and_batching_changes_nothing() {
    let mut cfg = config(24);
    cfg.rollout.mode = TrialMode::ZeroShot;
    let all = evaluate(&keydoor(), &mut RandomPolicy, &cfg, &mut NoObserver).unwrap();
    cfg.batch_tasks = 5;
    let batched = evaluate(&keydoor(), &mut RandomPolicy, &cfg, &mut NoObserver).unwrap();
    assert_eq!(all.trials, batched.trials);
    assert_eq!(all.report, batched.report);
    let r = &all.report;
    for k in 1..=3u32 {
        let solved = all
            .trials
            .iter()
            .filter(|t| t.solved_at().is_some_and(|a| a < k))
            .count();
        assert_eq!(r.pass_at_k[k as usize - 1], solved as f64 / 24.0);
    }
    assert!(
        r.pass_at_k[0] > 0.0 && r.pass_at_k[0] < 1.0,
        "{:?}",
        r.pass_at_k
    );
    assert!(r.pass_at_k[2] > r.pass_at_k[0], "{:?}", r.pass_at_k);
}

#[test]
fn all_at_once_means_as_many_tasks_as_the_sandbox_has_room_for() {
    let mut cfg = config(24);
    cfg.diversity_samples = 3;
    let unbounded = evaluate(&keydoor(), &mut RandomPolicy, &cfg, &mut NoObserver).unwrap();
    // Room for 7 sessions: batches of 7 tasks, and of 2 tasks × 3 samples.
    let capped = Capped::new(7);
    let bounded = evaluate(&capped, &mut RandomPolicy, &cfg, &mut NoObserver).unwrap();
    assert!(bounded.trials.iter().all(|t| t.failure.is_none()));
    assert!(bounded.diversity_trials.iter().all(|t| t.failure.is_none()));
    assert_eq!(unbounded.trials, bounded.trials);
    assert_eq!(unbounded.report, bounded.report);
}

#[test]
fn diversity_separates_a_fixed_policy_from_a_random_one() {
    let mut cfg = config(6);
    cfg.diversity_samples = 8;
    let expert = evaluate(&keydoor(), &mut ExpertPolicy, &cfg, &mut NoObserver).unwrap();
    let d = expert.report.diversity.as_ref().unwrap();
    assert_eq!((d.mean_entropy_nats, d.mean_distinct), (0.0, 1.0));
    assert_eq!(expert.diversity_trials.len(), 6 * 8);
    let random = evaluate(&keydoor(), &mut RandomPolicy, &cfg, &mut NoObserver).unwrap();
    let d = random.report.diversity.as_ref().unwrap();
    assert!(d.mean_entropy_nats > 0.5 && d.mean_distinct > 2.0, "{d:?}");
    assert!(
        random
            .diversity_trials
            .iter()
            .all(|t| t.attempts.len() == 1)
    );
}

#[test]
fn outputs_are_written_and_read_back() {
    let out = evaluate(
        &keydoor(),
        &mut Loser::default(),
        &config(3),
        &mut NoObserver,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = write_outputs(&out, dir.path()).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["report.json", "trajectories.jsonl", "pass_at_k.svg"]
    );
    let report: EvalReport =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    assert_eq!(report, out.report);
    let trials: Vec<TrialResult> = std::fs::read_to_string(&files[1])
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(trials, out.trials);
    assert!(
        std::fs::read_to_string(&files[2])
            .unwrap()
            .contains("pass@3")
    );
    assert!(out.report.table().contains("pass@k"));
}

#[test]
fn bad_splits_and_ranges_are_explained() {
    let mut cfg = config(2);
    cfg.split = "valid".into();
    let err = evaluate(&keydoor(), &mut ExpertPolicy, &cfg, &mut NoObserver).unwrap_err();
    assert!(matches!(err, EvalError::UnknownSplit { .. }));
    assert!(err.to_string().contains("train, test"), "{err}");
    let mut cfg = config(2);
    cfg.split = "train".into();
    cfg.first_task = (1 << 16) - 1;
    let err = evaluate(&keydoor(), &mut ExpertPolicy, &cfg, &mut NoObserver).unwrap_err();
    assert!(matches!(err, EvalError::TooManyTasks { .. }), "{err}");
}

#[test]
fn trajectories_keep_what_the_agent_saw_and_said() {
    let mut with_prompts = config(1);
    with_prompts.rollout.record_prompts = true;
    for (config, prompts) in [(config(1), false), (with_prompts, true)] {
        let out = evaluate(&keydoor(), &mut Loser::default(), &config, &mut NoObserver).unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_outputs(&out, dir.path()).unwrap();
        let line = std::fs::read_to_string(dir.path().join("trajectories.jsonl")).unwrap();
        let trial: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
        let step = &trial["attempts"][0]["steps"][0];
        let response = step["response"].as_str().unwrap();
        assert!(response.contains("<action>"), "{response}");
        assert!(response.contains(step["action"].as_str().unwrap()));
        let reflection = trial["attempts"][1]["reflection"].as_str().unwrap();
        assert!(reflection.starts_with("Reflection #"), "{reflection}");
        assert_eq!(step.get("prompt").is_some(), prompts);
        if prompts {
            assert!(step["prompt"].as_str().unwrap().contains("# Observations"));
        }
    }
}
