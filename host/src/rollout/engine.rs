//! The lockstep trial runner.

use lamer_plugin::{EnvFactory, EnvSession, SessionError};
use lamer_policy::{ChatMessage, Policy, PolicyError, PolicyRequest, RequestKind, SamplingParams};
use lamer_sdk::{PromptPieces, Task, mix_seed};
use serde::{Deserialize, Serialize};

use super::row::{AttemptOutcome, Phase, Row, StepRecord, TrialFailure, TrialResult};
use crate::agent::{
    HistoryTurn, INFO_ADMISSIBLE, MemoryMode, ParsingTable, PastAttempt, PlayView, PromptAssembler,
    REFLECTION_ANCHOR, ResponseParsing, ValidityRule,
};

/// How attempts after the first are played.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TrialMode {
    /// LaMer's trial (and the Reflexion baseline with a frozen model): reflect
    /// after each failed attempt and carry the memory into the next.
    #[default]
    Reflexion,
    /// Independent attempts: no reflection, no memory; every attempt sees
    /// exactly the prompts of a first attempt.
    ZeroShot,
    /// The official evaluation of the single-episode RL baselines
    /// (`val_do_reflection=False`): no reflection, and every attempt is shown
    /// as the first, but the history window runs on from the earlier
    /// attempts' turns (from the second turn of an attempt on), so it can
    /// show the previous attempt's tail. See
    /// [`crate::agent::PromptAssembler::carried_log`].
    CarryOver,
}

impl TrialMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TrialMode::Reflexion => "reflexion",
            TrialMode::ZeroShot => "zero-shot",
            TrialMode::CarryOver => "carry-over",
        }
    }
}

/// Settings of one rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutConfig {
    /// Attempts per trial (N; LaMer uses 3).
    pub attempts: u32,
    /// Trials per task (G).
    pub group_size: usize,
    pub mode: TrialMode,
    pub memory: MemoryMode,
    pub sampling: SamplingParams,
    /// Every request's seed derives from this.
    pub seed: u64,
    /// The session config JSON (`""` for the environment's defaults).
    pub env_config: String,
    pub parsing: ParsingTable,
    /// Ask the environment for its expert action on every turn (for the
    /// scripted expert policy; it can be costly, e.g. a search).
    pub expert_hints: bool,
    /// A host-side bound on turns per attempt, in case an environment never
    /// ends an episode; the environment's own turn limit normally ends it first.
    pub turn_cap: u32,
    /// What counts as an invalid turn.
    pub validity: ValidityRule,
    /// A prompt longer than this many tokens stops the rollout with an error,
    /// as the official `truncation='error'` does (never a silent cut).
    /// Checked on the token ids the policy reports (scripted policies report
    /// none).
    pub max_prompt_tokens: Option<usize>,
    /// Keep every play prompt in the trials' step records (rows always have
    /// them).
    pub record_prompts: bool,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        RolloutConfig {
            attempts: 3,
            group_size: 1,
            mode: TrialMode::Reflexion,
            memory: MemoryMode::ReflectionOnly,
            sampling: SamplingParams::evaluation(1024),
            seed: 0,
            env_config: String::new(),
            parsing: ParsingTable::default(),
            expert_hints: false,
            turn_cap: 256,
            validity: ValidityRule::Format,
            max_prompt_tokens: None,
            record_prompts: false,
        }
    }
}

/// One task of the batch and its group id (the id enters the request seeds,
/// so a task keeps its seeds however the tasks are batched).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskGroup {
    pub id: usize,
    pub task: Task,
}

/// Why a whole rollout failed (an environment error fails only its trial).
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("the policy failed: {0}")]
    Policy(#[from] PolicyError),
    #[error("the policy returned {got} responses for {expected} requests")]
    ResponseCount { expected: usize, got: usize },
    #[error("invalid rollout settings: {0}")]
    Config(String),
    #[error(
        "a {phase} prompt of task {task} (attempt {attempt}, turn {turn}) is {tokens} tokens, \
         over the limit of {limit} (lengths.max_prompt_tokens / --max-prompt-tokens); raise \
         the limit or shorten what the prompt carries (memory mode, history window)"
    )]
    PromptTooLong {
        phase: &'static str,
        task: String,
        attempt: u32,
        turn: u32,
        tokens: usize,
        limit: usize,
    },
}

/// Hooks for progress reporting.
pub trait RolloutObserver {
    /// A batch of `size` requests is about to go to the policy.
    fn on_batch(&mut self, _phase: Phase, _attempt: u32, _turn: u32, _size: usize) {}
    /// A trial has ended (won, used up its attempts, or failed).
    fn on_trial_end(&mut self, _trial: &TrialResult) {}
}

/// An observer that ignores everything.
pub struct NoObserver;
impl RolloutObserver for NoObserver {}

/// The recorded rows (in call order) and one result per trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutOutput {
    pub rows: Vec<Row>,
    pub trials: Vec<TrialResult>,
}

/// The sampling seed of one request: a pure function of its place in the
/// rollout, so a response never depends on which trials share its batch.
pub fn request_seed(
    run_seed: u64,
    group: usize,
    trial: usize,
    attempt: u32,
    turn: u32,
    phase: Phase,
) -> u64 {
    let phase_salt = match phase {
        Phase::Play => 1,
        Phase::Reflect => 2,
    };
    [
        group as u64,
        trial as u64,
        attempt as u64,
        turn as u64,
        phase_salt,
    ]
    .into_iter()
    .fold(run_seed, mix_seed)
}

struct Trial {
    session: Box<dyn EnvSession>,
    pieces: PromptPieces,
    past: Vec<PastAttempt>,
    current: Vec<HistoryTurn>,
    /// The observation the next prompt is built on.
    last_observation: String,
    /// The reflection on the attempt just failed, until it joins `past`.
    pending_reflection: Option<String>,
    attempt_over: bool,
    won: bool,
    result: TrialResult,
}

enum Slot {
    Live(Box<Trial>),
    Ended,
}

impl Slot {
    fn live(&mut self) -> Option<&mut Trial> {
        match self {
            Slot::Live(t) => Some(t),
            Slot::Ended => None,
        }
    }
}

/// Runs every task's trials to the end.
/// A response's tokens (or their log-probs) as a row records them: the
/// generated ones and, when the model chose to stop, the stop token — so the
/// update also teaches the model when to end its turn, as the SFT targets do.
fn with_stop<T>(mut generated: Vec<T>, stop: Option<T>) -> Vec<T> {
    generated.extend(stop);
    generated
}

pub fn run_rollout(
    factory: &dyn EnvFactory,
    policy: &mut dyn Policy,
    tasks: &[TaskGroup],
    config: &RolloutConfig,
    observer: &mut dyn RolloutObserver,
) -> Result<RolloutOutput, RolloutError> {
    if config.attempts == 0 || config.group_size == 0 {
        return Err(RolloutError::Config(format!(
            "attempts ({}) and group size ({}) must both be at least 1",
            config.attempts, config.group_size
        )));
    }
    let sessions = tasks.len().saturating_mul(config.group_size);
    if let Some(capacity) = factory.session_capacity()
        && sessions > capacity
    {
        return Err(RolloutError::Config(format!(
            "this rollout plays {} tasks × {} trials = {sessions} sessions at once, but the \
             plugin runtime has room for {capacity}; play fewer tasks per batch \
             (`--batch-tasks` for eval, `--tasks-per-step` or `--group-size` for train) or \
             raise `--instance-slots`",
            tasks.len(),
            config.group_size
        )));
    }
    let parsing = config.parsing.for_env(&factory.info().name).clone();
    let mut rows = Vec::new();
    let mut finished: Vec<TrialResult> = Vec::new();
    let mut slots: Vec<Slot> = Vec::new();
    for group in tasks {
        for trial in 0..config.group_size {
            let uid = slots.len();
            let mut result = TrialResult {
                group: group.id,
                task: group.task.clone(),
                trial,
                trial_uid: uid,
                initial_observation: String::new(),
                attempts: Vec::new(),
                failure: None,
            };
            match open_trial(factory, &config.env_config, &group.task) {
                Ok((session, pieces, initial)) => {
                    result.initial_observation = initial.clone();
                    slots.push(Slot::Live(Box::new(Trial {
                        session,
                        pieces,
                        past: Vec::new(),
                        current: Vec::new(),
                        last_observation: initial,
                        pending_reflection: None,
                        attempt_over: false,
                        won: false,
                        result,
                    })));
                }
                Err((call, error)) => {
                    result.failure = Some(failure(call, 0, 0, &error));
                    observer.on_trial_end(&result);
                    finished.push(result);
                    slots.push(Slot::Ended);
                }
            }
        }
    }

    for attempt in 0..config.attempts {
        if attempt > 0 {
            // Between attempts: a trial that won is done; the others reflect
            // (Reflexion mode) and restart from the initial state.
            for slot in slots.iter_mut() {
                if slot.live().is_some_and(|t| t.won) {
                    end_slot(slot, &mut finished, observer);
                }
            }
            if config.mode == TrialMode::Reflexion {
                reflect_phase(
                    factory, policy, &mut slots, attempt, config, &parsing, &mut rows, observer,
                )?;
            }
            for slot in slots.iter_mut() {
                if slot.live().is_some_and(|t| t.result.failure.is_some()) {
                    end_slot(slot, &mut finished, observer);
                }
                let Some(trial) = slot.live() else { continue };
                // The failed attempt joins the memory with the reflection
                // written on it (none in zero-shot mode).
                trial.past.push(PastAttempt {
                    turns: std::mem::take(&mut trial.current),
                    reflection: trial.pending_reflection.take(),
                });
                match trial.session.restart() {
                    Ok(reset) => {
                        trial.last_observation = reset.observation;
                        trial.attempt_over = false;
                    }
                    Err(error) => {
                        trial.result.failure = Some(failure("restart", attempt, 0, &error));
                        end_slot(slot, &mut finished, observer);
                    }
                }
            }
        }
        play_phase(
            factory, policy, &mut slots, attempt, config, &parsing, &mut rows, observer,
        )?;
        for slot in slots.iter_mut() {
            if slot.live().is_some_and(|t| t.result.failure.is_some()) {
                end_slot(slot, &mut finished, observer);
            }
        }
    }
    for slot in slots.iter_mut() {
        end_slot(slot, &mut finished, observer);
    }
    finished.sort_by_key(|t| t.trial_uid);
    Ok(RolloutOutput {
        rows,
        trials: finished,
    })
}

type OpenedTrial = (Box<dyn EnvSession>, PromptPieces, String);

fn open_trial(
    factory: &dyn EnvFactory,
    env_config: &str,
    task: &Task,
) -> Result<OpenedTrial, (&'static str, SessionError)> {
    let mut session = factory.open(env_config).map_err(|e| ("open", e))?;
    let pieces = session.prompt().map_err(|e| ("prompt", e))?;
    let reset = session.reset(task).map_err(|e| ("reset", e))?;
    Ok((session, pieces, reset.observation))
}

fn failure(call: &str, attempt: u32, turn: u32, error: &SessionError) -> TrialFailure {
    TrialFailure {
        call: call.to_string(),
        attempt,
        turn,
        message: error.to_string(),
    }
}

fn end_slot(slot: &mut Slot, finished: &mut Vec<TrialResult>, observer: &mut dyn RolloutObserver) {
    if let Slot::Live(trial) = std::mem::replace(slot, Slot::Ended) {
        if let Some(f) = &trial.result.failure {
            tracing::warn!(
                task = %trial.result.task,
                trial = trial.result.trial,
                call = %f.call,
                attempt = f.attempt + 1,
                turn = f.turn + 1,
                "trial failed: {}",
                f.message
            );
        }
        observer.on_trial_end(&trial.result);
        finished.push(trial.result);
    }
}

/// Where a batch of requests stands in the rollout, for error messages.
struct BatchPlace<'a> {
    phase: Phase,
    attempt: u32,
    turn: u32,
    slots: &'a [Slot],
    batch: &'a [usize],
}

/// One answer of a batch: the response, or why the backend finally failed
/// to give it (that request's trial ends, failed by the backend).
type Answer = Result<lamer_policy::PolicyResponse, String>;

fn generate(
    policy: &mut dyn Policy,
    requests: &[PolicyRequest],
    config: &RolloutConfig,
    place: BatchPlace<'_>,
) -> Result<Vec<Answer>, RolloutError> {
    let started = std::time::Instant::now();
    let responses: Vec<Answer> = match policy.generate(requests, &config.sampling) {
        Ok(responses) => responses.into_iter().map(Ok).collect(),
        Err(PolicyError::PartialBatch(batch)) => batch.answers,
        Err(error) => return Err(error.into()),
    };
    tracing::debug!(
        phase = ?place.phase,
        attempt = place.attempt + 1,
        turn = place.turn + 1,
        requests = requests.len(),
        seconds = started.elapsed().as_secs_f64(),
        "policy batch"
    );
    if responses.len() != requests.len() {
        return Err(RolloutError::ResponseCount {
            expected: requests.len(),
            got: responses.len(),
        });
    }
    if let Some(limit) = config.max_prompt_tokens {
        let over = responses
            .iter()
            .zip(place.batch)
            .filter_map(|(r, index)| r.as_ref().ok().map(|r| (r, index)))
            .find(|(r, _)| r.prompt_ids.len() > limit);
        if let Some((response, &index)) = over {
            let task = match &place.slots[index] {
                Slot::Live(trial) => trial.result.task.to_string(),
                Slot::Ended => String::from("?"),
            };
            return Err(RolloutError::PromptTooLong {
                phase: match place.phase {
                    Phase::Play => "play",
                    Phase::Reflect => "reflect",
                },
                task,
                attempt: place.attempt + 1,
                turn: place.turn + 1,
                tokens: response.prompt_ids.len(),
                limit,
            });
        }
    }
    Ok(responses)
}

#[allow(clippy::too_many_arguments)]
fn reflect_phase(
    factory: &dyn EnvFactory,
    policy: &mut dyn Policy,
    slots: &mut [Slot],
    attempt: u32,
    config: &RolloutConfig,
    parsing: &ResponseParsing,
    rows: &mut Vec<Row>,
    observer: &mut dyn RolloutObserver,
) -> Result<(), RolloutError> {
    let mut batch = Vec::new();
    let mut requests = Vec::new();
    for (index, slot) in slots.iter_mut().enumerate() {
        let Some(trial) = slot.live() else { continue };
        let assembler = PromptAssembler::new(factory, &trial.pieces, config.memory);
        match assembler.reflect(&trial.result.initial_observation, &trial.current) {
            Ok(prompt) => {
                let seed = request_seed(
                    config.seed,
                    trial.result.group,
                    trial.result.trial,
                    attempt,
                    0,
                    Phase::Reflect,
                );
                requests.push(PolicyRequest {
                    messages: vec![ChatMessage::user(prompt)],
                    kind: RequestKind::Reflect,
                    seed,
                    admissible_actions: Vec::new(),
                    expert_action: None,
                });
                batch.push(index);
            }
            Err(error) => {
                trial.result.failure = Some(failure("brief_observation", attempt, 0, &error));
            }
        }
    }
    if requests.is_empty() {
        return Ok(());
    }
    observer.on_batch(Phase::Reflect, attempt, 0, requests.len());
    let place = BatchPlace {
        phase: Phase::Reflect,
        attempt,
        turn: 0,
        slots,
        batch: &batch,
    };
    let responses = generate(policy, &requests, config, place)?;
    for ((index, request), response) in batch.into_iter().zip(requests).zip(responses) {
        let Some(trial) = slots[index].live() else {
            continue;
        };
        let response = match response {
            Ok(response) => response,
            Err(message) => {
                trial.result.failure = Some(TrialFailure::backend(attempt, 0, message));
                continue;
            }
        };
        let reflection = parsing.reflection(&response.text);
        let tagged = reflection.is_some();
        let reflection = reflection.unwrap_or_default();
        trial.pending_reflection = Some(reflection.clone());
        let prompt = request.messages.into_iter().map(|m| m.content).collect();
        rows.push(Row {
            group: trial.result.group,
            task: trial.result.task.clone(),
            trial: trial.result.trial,
            trial_uid: trial.result.trial_uid,
            attempt,
            turn: 0,
            phase: Phase::Reflect,
            seed: request.seed,
            prompt,
            prompt_ids: response.prompt_ids,
            response: response.text,
            response_ids: with_stop(response.response_ids, response.stop_token),
            logprobs: with_stop(response.logprobs, response.stop_logprob),
            parsed: reflection,
            reward: 0.0,
            anchor: REFLECTION_ANCHOR.to_string(),
            valid: tagged,
            tagged,
            won: false,
            done: false,
        });
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn play_phase(
    factory: &dyn EnvFactory,
    policy: &mut dyn Policy,
    slots: &mut [Slot],
    attempt: u32,
    config: &RolloutConfig,
    parsing: &ResponseParsing,
    rows: &mut Vec<Row>,
    observer: &mut dyn RolloutObserver,
) -> Result<(), RolloutError> {
    for slot in slots.iter_mut() {
        let Some(trial) = slot.live() else { continue };
        let reflection = if attempt > 0 {
            trial.past.last().and_then(|p| p.reflection.clone())
        } else {
            None
        };
        trial.result.attempts.push(AttemptOutcome {
            attempt,
            reflection,
            steps: Vec::new(),
            won: false,
            total_reward: 0.0,
            finished: false,
        });
    }
    let mut turn = 0u32;
    loop {
        let mut batch = Vec::new();
        let mut requests = Vec::new();
        for (index, slot) in slots.iter_mut().enumerate() {
            let Some(trial) = slot.live() else { continue };
            if trial.attempt_over || trial.result.failure.is_some() {
                continue;
            }
            if turn >= config.turn_cap {
                trial.attempt_over = true;
                if let Some(outcome) = trial.result.attempts.last_mut() {
                    outcome.finished = true;
                }
                continue;
            }
            match play_request(factory, trial, attempt, turn, config) {
                Ok(request) => {
                    requests.push(request);
                    batch.push(index);
                }
                Err((call, error)) => {
                    trial.result.failure = Some(failure(call, attempt, turn, &error));
                }
            }
        }
        if requests.is_empty() {
            return Ok(());
        }
        observer.on_batch(Phase::Play, attempt, turn, requests.len());
        let place = BatchPlace {
            phase: Phase::Play,
            attempt,
            turn,
            slots,
            batch: &batch,
        };
        let responses = generate(policy, &requests, config, place)?;
        for ((index, request), response) in batch.into_iter().zip(requests).zip(responses) {
            let Some(trial) = slots[index].live() else {
                continue;
            };
            let response = match response {
                Ok(response) => response,
                Err(message) => {
                    trial.result.failure = Some(TrialFailure::backend(attempt, turn, message));
                    continue;
                }
            };
            let parsed = parsing.parse(&response.text);
            let step = match trial.session.step(&parsed.env_action) {
                Ok(step) => step,
                Err(error) => {
                    trial.result.failure = Some(failure("step", attempt, turn, &error));
                    continue;
                }
            };
            if !step.reward.is_finite() {
                // A NaN or infinite reward would poison every return and
                // advantage of its group: the trial fails instead.
                trial.result.failure = Some(TrialFailure {
                    call: "step".into(),
                    attempt,
                    turn,
                    message: format!(
                        "the environment returned a non-finite reward ({})",
                        step.reward
                    ),
                });
                continue;
            }
            let echo = if step.action_echo.is_empty() {
                parsed.env_action.clone()
            } else {
                step.action_echo.clone()
            };
            let valid = config.validity.judge(
                parsed.tagged,
                step.action_valid,
                step.info_value(INFO_ADMISSIBLE),
            );
            let done = step.done();
            let anchor = std::mem::replace(&mut trial.last_observation, step.observation.clone());
            let row = Row {
                group: trial.result.group,
                task: trial.result.task.clone(),
                trial: trial.result.trial,
                trial_uid: trial.result.trial_uid,
                attempt,
                turn,
                phase: Phase::Play,
                seed: request.seed,
                prompt: request.messages.into_iter().map(|m| m.content).collect(),
                prompt_ids: response.prompt_ids,
                response: response.text,
                response_ids: with_stop(response.response_ids, response.stop_token),
                logprobs: with_stop(response.logprobs, response.stop_logprob),
                parsed: parsed.env_action.clone(),
                reward: step.reward,
                anchor,
                valid,
                tagged: parsed.tagged,
                won: step.won,
                done,
            };
            trial.current.push(
                HistoryTurn::new(echo.clone(), step.observation.clone()).ending(step.terminated),
            );
            if let Some(outcome) = trial.result.attempts.last_mut() {
                outcome.steps.push(StepRecord {
                    response: row.response.clone(),
                    prompt: config.record_prompts.then(|| row.prompt.clone()),
                    action: parsed.env_action,
                    echo,
                    observation: step.observation,
                    reward: step.reward,
                    valid,
                    response_length: row.response_length(),
                });
                outcome.total_reward += step.reward;
                outcome.won |= step.won;
                outcome.finished = done;
            }
            trial.won |= step.won;
            trial.attempt_over = done;
            rows.push(row);
        }
        turn += 1;
    }
}

fn play_request(
    factory: &dyn EnvFactory,
    trial: &mut Trial,
    attempt: u32,
    turn: u32,
    config: &RolloutConfig,
) -> Result<PolicyRequest, (&'static str, SessionError)> {
    let admissible = trial
        .session
        .admissible_actions()
        .map_err(|e| ("admissible_actions", e))?;
    let expert_action = if config.expert_hints {
        trial
            .session
            .expert_action()
            .map_err(|e| ("expert_action", e))?
    } else {
        None
    };
    let carried: Vec<HistoryTurn>;
    let (shown_attempt, past, current): (u32, &[PastAttempt], &[HistoryTurn]) = match config.mode {
        TrialMode::Reflexion => (attempt, &trial.past, &trial.current),
        TrialMode::ZeroShot => (0, &[], &trial.current),
        // The first turn of every attempt shows no history, as officially.
        TrialMode::CarryOver if trial.current.is_empty() => (0, &[], &[]),
        TrialMode::CarryOver => {
            carried = trial
                .past
                .iter()
                .flat_map(|p| p.turns.iter())
                .chain(&trial.current)
                .cloned()
                .collect();
            (0, &[], &carried)
        }
    };
    let prompt = PromptAssembler::new(factory, &trial.pieces, config.memory)
        .play(&PlayView {
            attempt: shown_attempt,
            initial_observation: &trial.result.initial_observation,
            past,
            current,
            admissible: &admissible,
            carry_over: config.mode == TrialMode::CarryOver,
        })
        .map_err(|e| ("brief_observation", e))?;
    Ok(PolicyRequest {
        messages: vec![ChatMessage::user(prompt)],
        kind: RequestKind::Act,
        seed: request_seed(
            config.seed,
            trial.result.group,
            trial.result.trial,
            attempt,
            turn,
            Phase::Play,
        ),
        admissible_actions: admissible,
        expert_action,
    })
}
