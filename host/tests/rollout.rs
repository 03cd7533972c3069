//! The rollout engine on keydoor with scripted policies.

mod common;

use common::{Capped, Faulty, Loser, Recorder, keydoor};
use lamer_host::rollout::{
    NoObserver, Phase, RolloutConfig, RolloutOutput, TaskGroup, TrialMode, request_seed,
    run_rollout,
};
use lamer_plugin::EnvFactory;
use lamer_policy::{ExpertPolicy, Policy, RandomPolicy, RequestKind};
use lamer_sdk::Task;

fn groups(indices: &[u64]) -> Vec<TaskGroup> {
    indices
        .iter()
        .enumerate()
        .map(|(id, &index)| TaskGroup {
            id,
            task: Task::new("test", index),
        })
        .collect()
}

fn config(group_size: usize) -> RolloutConfig {
    RolloutConfig {
        group_size,
        expert_hints: true,
        seed: 7,
        ..RolloutConfig::default()
    }
}

fn run(
    factory: &dyn EnvFactory,
    policy: &mut dyn Policy,
    tasks: &[u64],
    config: &RolloutConfig,
) -> RolloutOutput {
    run_rollout(factory, policy, &groups(tasks), config, &mut NoObserver).unwrap()
}

#[test]
fn the_expert_wins_at_once_and_records_one_row_per_trial() {
    let out = run(&keydoor(), &mut ExpertPolicy, &[0, 1, 2, 3], &config(2));
    assert_eq!(out.rows.len(), 8);
    assert_eq!(out.trials.len(), 8);
    for (uid, row) in out.rows.iter().enumerate() {
        assert_eq!((row.phase, row.attempt, row.turn), (Phase::Play, 0, 0));
        assert_eq!(
            (row.group, row.trial, row.trial_uid),
            (uid / 2, uid % 2, uid)
        );
        assert!(row.won && row.done && row.valid && row.tagged);
        assert_eq!(row.reward, 1.0);
        assert_eq!(row.anchor, out.trials[uid].initial_observation);
        assert_eq!(
            row.seed,
            request_seed(7, uid / 2, uid % 2, 0, 0, Phase::Play)
        );
        assert!(row.prompt.contains("# Observations"));
    }
    for trial in &out.trials {
        assert_eq!(trial.solved_at(), Some(0));
        assert_eq!(trial.attempts.len(), 1);
        assert!(trial.failure.is_none());
    }
}

#[test]
fn a_failed_attempt_reflects_restarts_and_stops_after_the_win() {
    // Win only on attempt 1 (the second), turn 0.
    let win = request_seed(7, 0, 0, 1, 0, Phase::Play);
    let mut policy = Loser::winning_on([win]);
    let out = run(&keydoor(), &mut policy, &[5], &config(1));
    let shape: Vec<_> = out
        .rows
        .iter()
        .map(|r| (r.phase, r.attempt, r.turn, r.won, r.done))
        .collect();
    assert_eq!(
        shape,
        [
            (Phase::Play, 0, 0, false, false),
            (Phase::Play, 0, 1, false, true),
            (Phase::Reflect, 1, 0, false, false),
            (Phase::Play, 1, 0, true, true),
        ]
    );
    let trial = &out.trials[0];
    assert_eq!(trial.solved_at(), Some(1));
    assert_eq!(trial.attempts.len(), 2, "no third attempt after the win");
    // The restart gives the identical initial state.
    assert_eq!(out.rows[0].anchor, trial.initial_observation);
    assert_eq!(out.rows[3].anchor, trial.initial_observation);
    assert_eq!(out.rows[2].anchor, "reflection");
    // The reflection is parsed, stored and shown in the next attempt's prompt.
    let reflection = "Reflection #1: skip the doors already found empty.";
    assert_eq!(out.rows[2].parsed, reflection);
    assert_eq!(trial.attempts[1].reflection.as_deref(), Some(reflection));
    assert!(out.rows[3].prompt.contains(&format!(
        "On trial #1, the task is NOT successfully completed. Your reflection is: {reflection}"
    )));
    assert!(
        out.rows[3]
            .prompt
            .contains("Currently you're on trial #2, starting from the initial state.")
    );
    assert!(
        out.rows[2]
            .prompt
            .contains("The task is NOT successfully completed.")
    );
    assert!(out.rows[2].prompt.contains("Action 2: "));
}

#[test]
fn all_reflections_reach_later_prompts() {
    let mut policy = Loser::default();
    let out = run(&keydoor(), &mut policy, &[9], &config(1));
    assert_eq!(out.rows.len(), 2 + 1 + 2 + 1 + 2);
    let last = out.rows.last().unwrap();
    assert_eq!((last.attempt, last.turn), (2, 1));
    assert!(last.prompt.contains(
        "On trial #1, the task is NOT successfully completed. Your reflection is: Reflection #1"
    ));
    assert!(last.prompt.contains(
        "On trial #2, the task is NOT successfully completed. Your reflection is: Reflection #2"
    ));
    assert!(last.prompt.contains("Currently you're on trial #3. You have already taken the following actions:\nAction 1: open"));
    assert_eq!(out.trials[0].solved_at(), None);
    assert_eq!(out.trials[0].attempts.len(), 3);
    assert!(out.trials[0].attempts.iter().all(|a| a.finished && !a.won));
}

#[test]
fn batches_shrink_as_trials_finish() {
    // Three tasks × two trials. Trial uid 0 wins at turn 0, uid 1 at turn 1 of
    // attempt 0; uid 2 wins on attempt 1; the rest never win.
    let seeds = [
        request_seed(7, 0, 0, 0, 0, Phase::Play),
        request_seed(7, 0, 1, 0, 1, Phase::Play),
        request_seed(7, 1, 0, 1, 0, Phase::Play),
    ];
    let mut policy = Recorder::new(Loser::winning_on(seeds));
    let out = run(&keydoor(), &mut policy, &[1, 2, 3], &config(2));
    use RequestKind::{Act, Reflect};
    assert_eq!(
        policy.batches,
        [
            (Act, 6),
            (Act, 5),
            (Reflect, 4),
            (Act, 4),
            (Act, 3),
            (Reflect, 3),
            (Act, 3),
            (Act, 3),
        ]
    );
    assert_eq!(out.rows.len(), 31);
    let solved: Vec<_> = out.trials.iter().map(|t| t.solved_at()).collect();
    assert_eq!(solved, [Some(0), Some(0), Some(1), None, None, None]);
    // The rows arrive in call order, one per request.
    for (row, request) in out.rows.iter().zip(&policy.requests) {
        assert_eq!(row.seed, request.seed);
        assert_eq!(row.prompt, request.messages[0].content);
    }
}

#[test]
fn an_env_error_fails_only_its_trial() {
    let factory = Faulty {
        inner: keydoor(),
        bad_task: 2,
        fail_on_step: 3, // attempt 1, turn 0
        fail_reset: false,
    };
    let mut policy = Recorder::new(Loser::default());
    let out = run(&factory, &mut policy, &[1, 2, 3], &config(1));
    let bad = &out.trials[1];
    let failure = bad.failure.as_ref().expect("the bad trial failed");
    assert_eq!(
        (failure.call.as_str(), failure.attempt, failure.turn),
        ("step", 1, 0)
    );
    assert!(failure.message.contains("unreachable executed"));
    assert_eq!(bad.attempts.len(), 2);
    assert!(!bad.attempts[1].finished);
    let bad_rows: Vec<_> = out
        .rows
        .iter()
        .filter(|r| r.group == 1)
        .map(|r| (r.phase, r.attempt, r.turn))
        .collect();
    assert_eq!(
        bad_rows,
        [
            (Phase::Play, 0, 0),
            (Phase::Play, 0, 1),
            (Phase::Reflect, 1, 0)
        ],
        "the failed call leaves no row and nothing follows it"
    );
    for good in [&out.trials[0], &out.trials[2]] {
        assert!(good.failure.is_none());
        assert_eq!(good.attempts.len(), 3);
        assert!(good.attempts.iter().all(|a| a.finished));
    }
    // After the failure the bad trial leaves the batches.
    assert_eq!(policy.batches.last(), Some(&(RequestKind::Act, 2)));

    let factory = Faulty {
        fail_reset: true,
        ..factory
    };
    let out = run(&factory, &mut Loser::default(), &[1, 2, 3], &config(1));
    let failure = out.trials[1].failure.as_ref().unwrap();
    assert_eq!(failure.call, "reset");
    assert!(out.trials[1].attempts.is_empty());
    assert!(out.rows.iter().all(|r| r.group != 1));
    assert_eq!(out.trials[0].attempts.len(), 3);
}

#[test]
fn seeds_make_runs_reproducible_and_independent_of_the_batch() {
    let tasks = [10, 11, 12, 13, 14, 15];
    let config = RolloutConfig {
        seed: 3,
        ..config(2)
    };
    let a = run(&keydoor(), &mut RandomPolicy, &tasks, &config);
    let b = run(&keydoor(), &mut RandomPolicy, &tasks, &config);
    assert_eq!(a, b);
    let other = run(
        &keydoor(),
        &mut RandomPolicy,
        &tasks,
        &RolloutConfig {
            seed: 4,
            ..config.clone()
        },
    );
    assert_ne!(a.rows, other.rows);
    // Group 0 alone plays exactly as it did inside the larger batch.
    let alone = run(&keydoor(), &mut RandomPolicy, &tasks[..1], &config);
    assert_eq!(alone.trials[..], a.trials[..2]);
}

#[test]
fn zero_shot_attempts_are_independent() {
    let config = RolloutConfig {
        mode: TrialMode::ZeroShot,
        ..config(1)
    };
    let mut policy = Recorder::new(Loser::default());
    let out = run(&keydoor(), &mut policy, &[4], &config);
    assert!(
        policy
            .batches
            .iter()
            .all(|(kind, _)| *kind == RequestKind::Act)
    );
    assert_eq!(out.rows.len(), 6);
    // Every attempt sees the same first prompt: no memory, no trial number.
    let firsts: Vec<_> = out.rows.iter().filter(|r| r.turn == 0).collect();
    assert_eq!(firsts.len(), 3);
    assert!(firsts.iter().all(|r| r.prompt == firsts[0].prompt));
    assert!(!out.rows.iter().any(|r| r.prompt.contains("trial #")));
    assert!(
        out.trials[0]
            .attempts
            .iter()
            .all(|a| a.reflection.is_none())
    );
}

#[test]
fn missing_tags_are_invalid_turns() {
    let out = run(&keydoor(), &mut common::Mute, &[0], &config(1));
    assert_eq!(out.rows.len(), 8);
    for row in &out.rows {
        assert!(!row.valid && !row.tagged);
        assert_eq!(row.parsed, "", "keydoor falls back to an empty action");
    }
    assert_eq!(out.rows[0].reward, -0.1);
    assert_eq!(out.trials[0].attempts[1].reflection.as_deref(), Some(""));
}

#[test]
fn a_rollout_larger_than_the_sandbox_is_refused_up_front() {
    let capped = Capped::new(7);
    let error = run_rollout(
        &capped,
        &mut RandomPolicy,
        &groups(&[0, 1, 2, 3]),
        &config(2),
        &mut NoObserver,
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("8 sessions"), "{message}");
    assert!(message.contains("room for 7"), "{message}");
    // Within the room it runs, and no session outlives the rollout.
    run(&capped, &mut RandomPolicy, &[0, 1, 2], &config(2));
    assert_eq!(capped.open.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// Answers like a language model: tokens with log-probs, stopped either by
/// its stop token (turns) or by the length limit (reflections).
struct Tokenised;

impl Policy for Tokenised {
    fn name(&self) -> String {
        "tokenised".into()
    }
    fn generate(
        &mut self,
        requests: &[lamer_policy::PolicyRequest],
        _sampling: &lamer_policy::SamplingParams,
    ) -> Result<Vec<lamer_policy::PolicyResponse>, lamer_policy::PolicyError> {
        Ok(requests
            .iter()
            .map(|r| {
                let stopped = r.kind == RequestKind::Act;
                lamer_policy::PolicyResponse {
                    text: "<action>open 1</action>".into(),
                    prompt_ids: vec![1, 2, 3],
                    response_ids: vec![10, 11],
                    logprobs: vec![-0.1, -0.2],
                    finish: if stopped {
                        lamer_policy::FinishReason::Stop
                    } else {
                        lamer_policy::FinishReason::Length
                    },
                    stop_token: stopped.then_some(99),
                    stop_logprob: stopped.then_some(-0.3),
                }
            })
            .collect())
    }
}

#[test]
fn rows_end_with_the_stop_token_when_the_model_stopped() {
    // Always door 1: the tasks whose key is elsewhere fail and reflect.
    let out = run(&keydoor(), &mut Tokenised, &[0, 1, 2, 3], &config(1));
    for row in &out.rows {
        if row.phase == Phase::Play {
            assert_eq!(row.response_ids, vec![10, 11, 99]);
            assert_eq!(row.logprobs, vec![-0.1, -0.2, -0.3]);
        } else {
            // Cut off by the length limit: nothing to append.
            assert_eq!(row.response_ids, vec![10, 11]);
            assert_eq!(row.logprobs, vec![-0.1, -0.2]);
        }
    }
    assert!(out.rows.iter().any(|r| r.phase == Phase::Reflect));
}

#[test]
fn carry_over_attempts_run_the_log_on_from_their_second_turn() {
    let config = RolloutConfig {
        mode: TrialMode::CarryOver,
        ..config(1)
    };
    let mut policy = Recorder::new(Loser::default());
    let out = run(&keydoor(), &mut policy, &[4], &config);
    assert!(
        policy
            .batches
            .iter()
            .all(|(kind, _)| *kind == RequestKind::Act),
        "no reflection"
    );
    let prompt = |attempt, turn| {
        let row = out
            .rows
            .iter()
            .find(|r| r.attempt == attempt && r.turn == turn)
            .unwrap();
        row.prompt.clone()
    };
    // The first turn of every attempt is prompted as the first attempt's.
    assert_eq!(prompt(1, 0), prompt(0, 0));
    assert_eq!(prompt(2, 0), prompt(0, 0));
    // From the second turn on the log runs on: attempt 1's two turns (which
    // ran out of turns, so nothing stops the window) and then this one.
    let second = prompt(1, 1);
    assert!(
        second.contains("Action 1: ") && second.contains("Action 3: "),
        "{second}"
    );
    assert!(!second.contains("Action 4: ") && !second.contains("trial #"));
    // Zero-shot shows only the current attempt.
    let zero = run(
        &keydoor(),
        &mut Loser::default(),
        &[4],
        &RolloutConfig {
            mode: TrialMode::ZeroShot,
            ..config.clone()
        },
    );
    assert!(!zero.rows[3].prompt.contains("Action 3: "));
}

/// Reports one prompt token per character, like a policy with a tokenizer.
struct CharTokens;

impl Policy for CharTokens {
    fn name(&self) -> String {
        "char-tokens".into()
    }
    fn generate(
        &mut self,
        requests: &[lamer_policy::PolicyRequest],
        _sampling: &lamer_policy::SamplingParams,
    ) -> Result<Vec<lamer_policy::PolicyResponse>, lamer_policy::PolicyError> {
        Ok(requests
            .iter()
            .map(|r| {
                let chars = r.messages.iter().map(|m| m.content.chars().count()).sum();
                let mut response =
                    lamer_policy::PolicyResponse::scripted("<action>open 1</action>");
                response.prompt_ids = vec![0; chars];
                response
            })
            .collect())
    }
}

#[test]
fn a_prompt_over_the_limit_stops_the_rollout_with_one_line() {
    let generous = RolloutConfig {
        max_prompt_tokens: Some(100_000),
        ..config(1)
    };
    assert!(
        run_rollout(
            &keydoor(),
            &mut CharTokens,
            &groups(&[0]),
            &generous,
            &mut NoObserver
        )
        .is_ok()
    );
    let tight = RolloutConfig {
        max_prompt_tokens: Some(50),
        ..config(1)
    };
    let err = run_rollout(
        &keydoor(),
        &mut CharTokens,
        &groups(&[0]),
        &tight,
        &mut NoObserver,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("play prompt of task test/0 (attempt 1, turn 1)")
            && err.contains("over the limit of 50"),
        "{err}"
    );
    assert!(!err.contains('\n'));
}

#[test]
fn failed_trials_leave_the_update() {
    let factory = Faulty {
        inner: keydoor(),
        bad_task: 2,
        fail_on_step: 3,
        fail_reset: false,
    };
    let out = run(&factory, &mut Loser::default(), &[1, 2, 3], &config(1));
    let total = out.rows.len();
    let bad_rows = out.rows.iter().filter(|r| r.group == 1).count();
    assert!(bad_rows > 0);
    let (kept, failed) = lamer_host::train::trainer::drop_failed_trials(out);
    assert_eq!(failed, 1);
    assert_eq!(kept.rows.len(), total - bad_rows);
    assert!(kept.rows.iter().all(|r| r.group != 1));
    assert_eq!(
        kept.trials.len(),
        3,
        "the trial still counts in the metrics"
    );
}

#[test]
fn a_non_finite_reward_fails_its_trial_and_never_reaches_a_row() {
    let factory = common::NanReward {
        inner: keydoor(),
        from_step: 2,
    };
    let out = run(&factory, &mut Loser::default(), &[1, 2], &config(1));
    for trial in &out.trials {
        let failure = trial.failure.as_ref().expect("the NaN fails the trial");
        assert_eq!(
            (failure.call.as_str(), failure.attempt, failure.turn),
            ("step", 0, 1)
        );
        assert!(
            failure.message.contains("non-finite reward (NaN)"),
            "{}",
            failure.message
        );
    }
    assert!(out.rows.iter().all(|r| r.reward.is_finite()));
    assert_eq!(
        out.rows.len(),
        2,
        "only the first, finite turn of each trial"
    );
}
