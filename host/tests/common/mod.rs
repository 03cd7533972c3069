//! Scripted policies and faulty environments shared by the integration tests.
#![allow(dead_code)]

use std::collections::HashSet;

use lamer_plugin::{EnvFactory, EnvSession, NativeEnv, SessionError};
use lamer_policy::{
    Policy, PolicyError, PolicyRequest, PolicyResponse, RequestKind, SamplingParams,
};
use lamer_sdk::{EnvError, EnvInfo, PromptPieces, ResetResult, StepResult, Task};

pub fn keydoor() -> NativeEnv<keydoor::KeyDoor> {
    NativeEnv::new()
}

/// Records every batch it receives and answers with an inner policy.
pub struct Recorder<P> {
    pub inner: P,
    pub batches: Vec<(RequestKind, usize)>,
    pub requests: Vec<PolicyRequest>,
}

impl<P> Recorder<P> {
    pub fn new(inner: P) -> Self {
        Recorder {
            inner,
            batches: Vec::new(),
            requests: Vec::new(),
        }
    }
}

impl<P: Policy> Policy for Recorder<P> {
    fn name(&self) -> String {
        format!("recorded {}", self.inner.name())
    }
    fn generate(
        &mut self,
        requests: &[PolicyRequest],
        sampling: &SamplingParams,
    ) -> Result<Vec<PolicyResponse>, PolicyError> {
        self.batches.push((requests[0].kind, requests.len()));
        self.requests.extend(requests.iter().cloned());
        self.inner.generate(requests, sampling)
    }
}

/// Never finds the key: opens the first closed door that is not the expert's,
/// and writes a numbered reflection (`<remark>Reflection #n: …</remark>`).
/// Plays the expert action for requests whose seed is in `winning_seeds`.
#[derive(Default)]
pub struct Loser {
    pub winning_seeds: HashSet<u64>,
    reflections: usize,
}

impl Loser {
    pub fn winning_on(seeds: impl IntoIterator<Item = u64>) -> Self {
        Loser {
            winning_seeds: seeds.into_iter().collect(),
            reflections: 0,
        }
    }
}

impl Policy for Loser {
    fn name(&self) -> String {
        "loser".into()
    }
    fn generate(
        &mut self,
        requests: &[PolicyRequest],
        _sampling: &SamplingParams,
    ) -> Result<Vec<PolicyResponse>, PolicyError> {
        Ok(requests
            .iter()
            .map(|r| {
                PolicyResponse::scripted(match r.kind {
                    RequestKind::Reflect => {
                        self.reflections += 1;
                        format!(
                            "The doors I opened were empty.\n<remark>Reflection #{}: skip the \
                             doors already found empty.</remark>",
                            self.reflections
                        )
                    }
                    RequestKind::Act => {
                        let expert = r.expert_action.clone().expect("run with expert hints");
                        let action = if self.winning_seeds.contains(&r.seed) {
                            expert
                        } else {
                            r.admissible_actions
                                .iter()
                                .find(|a| **a != expert)
                                .cloned()
                                .unwrap_or_default()
                        };
                        format!("I will try a door.\n<action>{action}</action>")
                    }
                })
            })
            .collect())
    }
}

/// Always answers without tags.
pub struct Mute;

impl Policy for Mute {
    fn name(&self) -> String {
        "mute".into()
    }
    fn generate(
        &mut self,
        requests: &[PolicyRequest],
        _sampling: &SamplingParams,
    ) -> Result<Vec<PolicyResponse>, PolicyError> {
        Ok(requests
            .iter()
            .map(|_| PolicyResponse::scripted("I am not sure what to do."))
            .collect())
    }
}

/// Keydoor, except that sessions of task `bad_task` fail: `reset` errors
/// when `fail_reset` is set, otherwise `step` errors on its `fail_on_step`-th
/// call (counted over the whole session, 1-based).
pub struct Faulty {
    pub inner: NativeEnv<keydoor::KeyDoor>,
    pub bad_task: u64,
    pub fail_on_step: u32,
    pub fail_reset: bool,
}

struct FaultySession {
    inner: Box<dyn EnvSession>,
    bad_task: u64,
    fail_on_step: u32,
    fail_reset: bool,
    bad: bool,
    steps: u32,
}

impl EnvSession for FaultySession {
    fn reset(&mut self, task: &Task) -> Result<ResetResult, SessionError> {
        self.bad = task.index == self.bad_task;
        if self.bad && self.fail_reset {
            return Err(SessionError::Env(EnvError::DataUnavailable(
                "this task's data is corrupt".into(),
            )));
        }
        self.inner.reset(task)
    }
    fn restart(&mut self) -> Result<ResetResult, SessionError> {
        self.inner.restart()
    }
    fn step(&mut self, action: &str) -> Result<StepResult, SessionError> {
        self.steps += 1;
        if self.bad && self.steps == self.fail_on_step {
            return Err(SessionError::Trap {
                call: "step".into(),
                message: "unreachable executed".into(),
                stderr_tail: String::new(),
            });
        }
        self.inner.step(action)
    }
    fn admissible_actions(&mut self) -> Result<Vec<String>, SessionError> {
        self.inner.admissible_actions()
    }
    fn expert_action(&mut self) -> Result<Option<String>, SessionError> {
        self.inner.expert_action()
    }
    fn prompt(&mut self) -> Result<PromptPieces, SessionError> {
        self.inner.prompt()
    }
}

impl EnvFactory for Faulty {
    fn info(&self) -> &EnvInfo {
        self.inner.info()
    }
    fn brief_observation(&self, observation: &str) -> Result<String, SessionError> {
        self.inner.brief_observation(observation)
    }
    fn open(&self, config_json: &str) -> Result<Box<dyn EnvSession>, SessionError> {
        Ok(Box::new(FaultySession {
            inner: self.inner.open(config_json)?,
            bad_task: self.bad_task,
            fail_on_step: self.fail_on_step,
            fail_reset: self.fail_reset,
            bad: false,
            steps: 0,
        }))
    }
}

/// An env factory with room for only `capacity` open sessions at a time, like
/// a sandbox with few pooled instance slots. Opening one more fails.
pub struct Capped {
    pub inner: NativeEnv<keydoor::KeyDoor>,
    pub capacity: usize,
    pub open: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Capped {
    pub fn new(capacity: usize) -> Self {
        Capped {
            inner: NativeEnv::new(),
            capacity,
            open: Default::default(),
        }
    }
}

struct CappedSession {
    inner: Box<dyn EnvSession>,
    open: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for CappedSession {
    fn drop(&mut self) {
        self.open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl EnvSession for CappedSession {
    fn reset(&mut self, task: &Task) -> Result<ResetResult, SessionError> {
        self.inner.reset(task)
    }
    fn restart(&mut self) -> Result<ResetResult, SessionError> {
        self.inner.restart()
    }
    fn step(&mut self, action: &str) -> Result<StepResult, SessionError> {
        self.inner.step(action)
    }
    fn admissible_actions(&mut self) -> Result<Vec<String>, SessionError> {
        self.inner.admissible_actions()
    }
    fn expert_action(&mut self) -> Result<Option<String>, SessionError> {
        self.inner.expert_action()
    }
    fn prompt(&mut self) -> Result<PromptPieces, SessionError> {
        self.inner.prompt()
    }
}

impl EnvFactory for Capped {
    fn info(&self) -> &EnvInfo {
        self.inner.info()
    }
    fn brief_observation(&self, observation: &str) -> Result<String, SessionError> {
        self.inner.brief_observation(observation)
    }
    fn open(&self, config_json: &str) -> Result<Box<dyn EnvSession>, SessionError> {
        use std::sync::atomic::Ordering;
        if self.open.fetch_add(1, Ordering::SeqCst) >= self.capacity {
            self.open.fetch_sub(1, Ordering::SeqCst);
            return Err(SessionError::Runtime("no free slot".into()));
        }
        Ok(Box::new(CappedSession {
            inner: self.inner.open(config_json)?,
            open: self.open.clone(),
        }))
    }
    fn session_capacity(&self) -> Option<usize> {
        Some(self.capacity)
    }
}

/// Keydoor whose rewards are NaN from the `from_step`-th step of a session
/// on (1-based), like a plugin with a division by zero.
pub struct NanReward {
    pub inner: NativeEnv<keydoor::KeyDoor>,
    pub from_step: u32,
}

struct NanSession {
    inner: Box<dyn EnvSession>,
    from_step: u32,
    steps: u32,
}

impl EnvSession for NanSession {
    fn reset(&mut self, task: &Task) -> Result<ResetResult, SessionError> {
        self.inner.reset(task)
    }
    fn restart(&mut self) -> Result<ResetResult, SessionError> {
        self.inner.restart()
    }
    fn step(&mut self, action: &str) -> Result<StepResult, SessionError> {
        self.steps += 1;
        let mut result = self.inner.step(action)?;
        if self.steps >= self.from_step {
            result.reward = f64::NAN;
        }
        Ok(result)
    }
    fn admissible_actions(&mut self) -> Result<Vec<String>, SessionError> {
        self.inner.admissible_actions()
    }
    fn expert_action(&mut self) -> Result<Option<String>, SessionError> {
        self.inner.expert_action()
    }
    fn prompt(&mut self) -> Result<PromptPieces, SessionError> {
        self.inner.prompt()
    }
}

impl EnvFactory for NanReward {
    fn info(&self) -> &EnvInfo {
        self.inner.info()
    }
    fn brief_observation(&self, observation: &str) -> Result<String, SessionError> {
        self.inner.brief_observation(observation)
    }
    fn open(&self, config_json: &str) -> Result<Box<dyn EnvSession>, SessionError> {
        Ok(Box::new(NanSession {
            inner: self.inner.open(config_json)?,
            from_step: self.from_step,
            steps: 0,
        }))
    }
}
