//! A request the policy backend finally fails to answer ends only its own
//! trial, as failed by the backend (call `policy`), and the report counts
//! such trials apart from wrong answers.

mod common;

use common::keydoor;
use lamer_host::eval::{EvalConfig, evaluate};
use lamer_host::rollout::{NoObserver, RolloutConfig, TrialFailure};
use lamer_policy::{
    ExpertPolicy, PartialBatch, Policy, PolicyError, PolicyRequest, PolicyResponse, SamplingParams,
};

/// The expert, except that the request at `fail_index` of the first batch
/// gets no answer.
struct FailsOnce {
    fail_index: usize,
    batches: usize,
}

impl Policy for FailsOnce {
    fn name(&self) -> String {
        "fails-once".into()
    }
    fn generate(
        &mut self,
        requests: &[PolicyRequest],
        sampling: &SamplingParams,
    ) -> Result<Vec<PolicyResponse>, PolicyError> {
        let responses = ExpertPolicy.generate(requests, sampling)?;
        self.batches += 1;
        if self.batches > 1 {
            return Ok(responses);
        }
        let answers = responses
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                if i == self.fail_index {
                    Err("HTTP 503 from server: overloaded (gave up after 5 attempts)".into())
                } else {
                    Ok(r)
                }
            })
            .collect();
        Err(PolicyError::PartialBatch(Box::new(PartialBatch {
            answers,
        })))
    }
}

#[test]
fn a_backend_failure_fails_only_its_trial_and_is_counted_apart() {
    let config = EvalConfig {
        split: "test".into(),
        first_task: 0,
        tasks: 3,
        batch_tasks: 0,
        diversity_samples: 0,
        rollout: RolloutConfig {
            expert_hints: true,
            seed: 11,
            ..RolloutConfig::default()
        },
    };
    let mut policy = FailsOnce {
        fail_index: 1,
        batches: 0,
    };
    let out = evaluate(&keydoor(), &mut policy, &config, &mut NoObserver).unwrap();
    let failure = out.trials[1].failure.as_ref().expect("trial 1 failed");
    assert_eq!(failure.call, TrialFailure::POLICY_CALL);
    assert!(failure.is_backend());
    assert!(failure.message.contains("overloaded"));
    assert_eq!((failure.attempt, failure.turn), (0, 0));
    assert!(out.trials[0].failure.is_none() && out.trials[2].failure.is_none());
    assert_eq!(out.trials[0].solved_at(), Some(0));
    assert_eq!(out.trials[2].solved_at(), Some(0));
    // The failed trial played no step and no later attempt.
    assert!(out.trials[1].attempts.iter().all(|a| a.steps.is_empty()));
    assert_eq!(out.trials[1].attempts.len(), 1);
    let r = &out.report;
    assert_eq!((r.failed_trials, r.backend_failed_trials), (1, 1));
    assert_eq!(r.llm_calls, 2, "the failed request left no row");
    assert!(r.table().contains("of which by backend 1"));
    assert!(r.first_failure.as_deref().unwrap().contains("`policy`"));
}

#[test]
fn any_other_policy_error_still_stops_the_evaluation() {
    struct Broken;
    impl Policy for Broken {
        fn name(&self) -> String {
            "broken".into()
        }
        fn generate(
            &mut self,
            _: &[PolicyRequest],
            _: &SamplingParams,
        ) -> Result<Vec<PolicyResponse>, PolicyError> {
            Err(PolicyError::Compute("out of memory".into()))
        }
    }
    let config = EvalConfig {
        split: "test".into(),
        first_task: 0,
        tasks: 2,
        batch_tasks: 0,
        diversity_samples: 0,
        rollout: RolloutConfig::default(),
    };
    let error = evaluate(&keydoor(), &mut Broken, &config, &mut NoObserver).unwrap_err();
    assert!(error.to_string().contains("out of memory"), "{error}");
}
