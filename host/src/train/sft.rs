//! # SFT warm start: imitate the environment's expert before RL
//!
//! A small model that never produces `<action>…</action>` gets no reward and
//! RL has nothing to reinforce. Supervised fine-tuning on demonstrations
//! fixes that: the prompt the agent would see, answered with a
//! reasoning-free `<action>expert move</action>`.
//!
//! Demonstrations come from two kinds of scripted trials, played through the
//! same rollout engine (so the prompts are exactly the agent's):
//!
//! - **expert trials**: one attempt, every turn answered with the expert's
//!   action;
//! - **reflection trials**: a random first attempt, then — if it failed — a
//!   templated reflection `<remark>` naming the actions that failed, then the
//!   expert from the restart. Only the reflection and the expert turns are
//!   kept; the random turns are not demonstrations.
//! - **recovery trials** (optional): one attempt of a few random turns, then
//!   the expert from the state they led to. Only the expert's turns are kept,
//!   and only where it had an answer: they teach the later turns of an
//!   attempt that went astray, which expert trials (that win early) never
//!   show.
//!
//! Training minimises the cross-entropy of the response tokens (token mean
//! over a batch; the end-of-turn token is a target too, so the model learns
//! to stop) with AdamW and gradient clipping. The result is written as a model
//! directory that `--model` accepts.

use std::path::{Path, PathBuf};

use candle_core::backprop::GradStore;
use lamer_plugin::EnvFactory;
use lamer_policy::{
    ChatMessage, LlmPolicy, Pass, Policy, PolicyError, PolicyRequest, PolicyResponse, RequestKind,
    SamplingParams, ScoreRow, TrainMode, TrainableParams, clip_grad_norm, score_tokens,
};
use lamer_sdk::{SeededRng, Task, mix_seed};
use serde::{Deserialize, Serialize};

use super::recipe::Recipe;
use super::trainer::{Learner, TrainError};
use crate::rollout::{NoObserver, Phase, RolloutConfig, Row, TaskGroup, TrialMode, run_rollout};

/// SFT settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftConfig {
    /// Training tasks to play expert trials on.
    pub expert_tasks: usize,
    /// Training tasks to play reflection trials on.
    pub reflection_tasks: usize,
    /// Training tasks to play recovery trials on: a few random turns, then
    /// the expert from wherever they led.
    #[serde(default)]
    pub recovery_tasks: usize,
    pub epochs: usize,
    pub lr: f64,
    /// Demonstrations per optimiser update.
    pub batch: usize,
    /// Demonstrations per forward/backward pass; gradients accumulate over
    /// the batch. Small passes keep the attention tensors small enough for
    /// the allocator to recycle, which on a CPU costs less than the page
    /// faults of fresh large buffers.
    pub micro_batch: usize,
    pub grad_clip: f64,
    pub seed: u64,
}

impl Default for SftConfig {
    fn default() -> Self {
        SftConfig {
            expert_tasks: 64,
            reflection_tasks: 64,
            recovery_tasks: 0,
            epochs: 3,
            lr: 1e-3,
            batch: 16,
            micro_batch: 4,
            grad_clip: 1.0,
            seed: 0,
        }
    }
}

/// One demonstration: token ids of the prompt (chat template applied) and of
/// the target response (ending with the end-of-turn token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Demo {
    pub prompt: String,
    pub response: String,
    pub prompt_ids: Vec<u32>,
    pub response_ids: Vec<u32>,
    pub phase: Phase,
}

/// The scripted player of a reflection trial: random until it is asked to
/// reflect, then a templated reflection, then the expert.
#[derive(Debug, Default)]
struct RandomThenExpert {
    played: Vec<String>,
    reflected: bool,
}

/// The reflection a demonstration teaches: name what failed, plan to avoid it.
pub fn templated_reflection(failed_actions: &[String]) -> String {
    let tried = if failed_actions.is_empty() {
        "no valid action".to_string()
    } else {
        failed_actions.join(", ")
    };
    format!(
        "<remark>The last attempt failed. I tried: {tried}. That did not solve the task, so I \
         will not repeat it; from the initial state I will choose different actions.</remark>"
    )
}

/// A uniformly random admissible action, drawn from the request's seed.
fn random_move(r: &PolicyRequest) -> String {
    SeededRng::new(r.seed)
        .choose(&r.admissible_actions)
        .cloned()
        .unwrap_or_default()
}

/// The expert's action, or the first admissible one where it has none.
fn expert_move(r: &PolicyRequest) -> String {
    r.expert_action
        .clone()
        .or_else(|| r.admissible_actions.first().cloned())
        .unwrap_or_default()
}

impl Policy for RandomThenExpert {
    fn name(&self) -> String {
        "random-then-expert".into()
    }

    fn generate(
        &mut self,
        requests: &[PolicyRequest],
        _sampling: &SamplingParams,
    ) -> Result<Vec<PolicyResponse>, PolicyError> {
        requests
            .iter()
            .map(|r| {
                let text = match (r.kind, self.reflected) {
                    (RequestKind::Reflect, _) => {
                        self.reflected = true;
                        templated_reflection(&self.played)
                    }
                    (RequestKind::Act, false) => {
                        let action = random_move(r);
                        self.played.push(action.clone());
                        format!("<action>{action}</action>")
                    }
                    (RequestKind::Act, true) => format!("<action>{}</action>", expert_move(r)),
                };
                Ok(PolicyResponse::scripted(text))
            })
            .collect()
    }
}

/// The scripted player of a recovery trial: `random_turns` random actions,
/// then the expert. It notes the turns at which the expert had an answer.
#[derive(Debug)]
struct RecoveringPlayer {
    random_turns: u32,
    played: u32,
    expert_turns: Vec<u32>,
}

impl Policy for RecoveringPlayer {
    fn name(&self) -> String {
        "random-prefix-then-expert".into()
    }

    fn generate(
        &mut self,
        requests: &[PolicyRequest],
        _sampling: &SamplingParams,
    ) -> Result<Vec<PolicyResponse>, PolicyError> {
        requests
            .iter()
            .map(|r| {
                let turn = self.played;
                self.played += 1;
                let action = if turn < self.random_turns {
                    random_move(r)
                } else {
                    if r.expert_action.is_some() {
                        self.expert_turns.push(turn);
                    }
                    expert_move(r)
                };
                Ok(PolicyResponse::scripted(format!(
                    "<action>{action}</action>"
                )))
            })
            .collect()
    }
}

/// Plays the scripted trials and returns the rows worth imitating.
pub fn demonstration_rows(
    factory: &dyn EnvFactory,
    recipe: &Recipe,
    config: &SftConfig,
) -> Result<Vec<Row>, TrainError> {
    let info = factory.info();
    let split = info.split(&recipe.env.train_split).ok_or_else(|| {
        TrainError::Config(format!(
            "`{}` has no split `{}`",
            info.name, recipe.env.train_split
        ))
    })?;
    let count = split.task_count.max(1);
    let mut rng = SeededRng::new(mix_seed(config.seed, 0x5F7));
    let base = RolloutConfig {
        group_size: 1,
        memory: recipe.trial.memory,
        sampling: SamplingParams::greedy(recipe.lengths.max_new_tokens),
        env_config: recipe.env_config_json(),
        expert_hints: true,
        turn_cap: recipe.trial.max_turns,
        ..RolloutConfig::default()
    };
    let mut rows = Vec::new();
    let expert_groups: Vec<TaskGroup> = (0..config.expert_tasks)
        .map(|id| TaskGroup {
            id,
            task: Task::new(&recipe.env.train_split, rng.below(count)),
        })
        .collect();
    if !expert_groups.is_empty() {
        let expert = RolloutConfig {
            attempts: 1,
            mode: TrialMode::ZeroShot,
            seed: mix_seed(config.seed, 1),
            ..base.clone()
        };
        let out = run_rollout(
            factory,
            &mut lamer_policy::ExpertPolicy,
            &expert_groups,
            &expert,
            &mut NoObserver,
        )?;
        rows.extend(out.rows);
    }
    let reflective = RolloutConfig {
        attempts: recipe.trial.attempts.max(2),
        mode: TrialMode::Reflexion,
        ..base.clone()
    };
    for id in 0..config.reflection_tasks {
        // One trial per rollout: the scripted player's state is per trial.
        let group = TaskGroup {
            id,
            task: Task::new(&recipe.env.train_split, rng.below(count)),
        };
        let config = RolloutConfig {
            seed: mix_seed(config.seed, 2 + id as u64),
            ..reflective.clone()
        };
        let mut player = RandomThenExpert::default();
        let out = run_rollout(factory, &mut player, &[group], &config, &mut NoObserver)?;
        rows.extend(
            out.rows
                .into_iter()
                .filter(|r| r.phase == Phase::Reflect || r.attempt > 0),
        );
    }
    rows.extend(recovery_rows(
        factory, recipe, config, &base, count, &mut rng,
    )?);
    Ok(rows)
}

/// The expert turns of `config.recovery_tasks` recovery trials.
fn recovery_rows(
    factory: &dyn EnvFactory,
    recipe: &Recipe,
    config: &SftConfig,
    base: &RolloutConfig,
    task_count: u64,
    rng: &mut SeededRng,
) -> Result<Vec<Row>, TrainError> {
    let max_random = recipe.trial.max_turns.saturating_sub(1).max(1);
    let mut rows = Vec::new();
    for id in 0..config.recovery_tasks {
        let group = TaskGroup {
            id,
            task: Task::new(&recipe.env.train_split, rng.below(task_count)),
        };
        let trial = RolloutConfig {
            attempts: 1,
            mode: TrialMode::ZeroShot,
            seed: mix_seed(config.seed, 0x2EC0_0000 + id as u64),
            ..base.clone()
        };
        let mut player = RecoveringPlayer {
            random_turns: 1 + rng.below(max_random as u64) as u32,
            played: 0,
            expert_turns: Vec::new(),
        };
        let out = run_rollout(factory, &mut player, &[group], &trial, &mut NoObserver)?;
        rows.extend(
            out.rows
                .into_iter()
                .filter(|r| r.phase == Phase::Play && player.expert_turns.contains(&r.turn)),
        );
    }
    Ok(rows)
}

/// Tokenises demonstration rows for `policy` (the response gets the
/// end-of-turn token appended).
pub fn tokenize_demos(policy: &LlmPolicy, rows: &[Row]) -> Result<Vec<Demo>, TrainError> {
    let stop = policy.tokenizer().stop_tokens().first().copied();
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let request = PolicyRequest {
                messages: vec![ChatMessage::user(row.prompt.clone())],
                kind: RequestKind::Act,
                seed: 0,
                admissible_actions: Vec::new(),
                expert_action: None,
            };
            let prompt_ids = policy.prompt_ids(i, &request)?;
            let mut response_ids = policy.tokenizer().encode(&row.response)?;
            response_ids.extend(stop);
            Ok(Demo {
                prompt: row.prompt.clone(),
                response: row.response.clone(),
                prompt_ids,
                response_ids,
                phase: row.phase,
            })
        })
        .collect()
}

/// Per-epoch SFT statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftEpoch {
    pub epoch: usize,
    /// Mean cross-entropy per response token (nats).
    pub loss: f64,
    /// Mean pre-clip gradient norm.
    pub grad_norm: f64,
}

/// Fine-tunes the learner's model on `demos` with token-mean cross-entropy.
pub fn train_sft(
    learner: &mut Learner,
    demos: &[Demo],
    config: &SftConfig,
    mut on_epoch: impl FnMut(&SftEpoch),
) -> Result<Vec<SftEpoch>, TrainError> {
    if config.batch == 0 || config.epochs == 0 || config.micro_batch == 0 {
        return Err(TrainError::Config(
            "SFT batch, micro-batch and epochs must be at least 1".into(),
        ));
    }
    learner.optimizer.set_lr(config.lr);
    let mut order: Vec<usize> = (0..demos.len()).collect();
    let mut history = Vec::new();
    for epoch in 0..config.epochs {
        SeededRng::new(mix_seed(config.seed, epoch as u64)).shuffle(&mut order);
        let (mut loss_sum, mut tokens, mut norms, mut updates) = (0.0, 0usize, 0.0, 0usize);
        for chunk in order.chunks(config.batch) {
            let Some((loss, n, norm)) = sft_update(learner, demos, chunk, config)? else {
                continue;
            };
            if norm.is_finite() {
                norms += norm;
                updates += 1;
            }
            loss_sum += loss * n as f64;
            tokens += n;
        }
        let record = SftEpoch {
            epoch: epoch + 1,
            loss: loss_sum / tokens.max(1) as f64,
            grad_norm: norms / updates.max(1) as f64,
        };
        on_epoch(&record);
        history.push(record);
    }
    Ok(history)
}

/// One optimiser update on the demonstrations `batch` (indices into
/// `demos`), accumulated over micro-batches of similar lengths. Returns the
/// batch's token-mean loss, its response tokens and the pre-clip gradient
/// norm; `None` when the batch has no response token.
fn sft_update(
    learner: &mut Learner,
    demos: &[Demo],
    batch: &[usize],
    config: &SftConfig,
) -> Result<Option<(f64, usize, f64)>, TrainError> {
    let candle = |e: candle_core::Error| TrainError::Config(format!("SFT: tensor error: {e}"));
    let total: usize = batch.iter().map(|&i| demos[i].response_ids.len()).sum();
    if total == 0 {
        return Ok(None);
    }
    // Sorting by length only groups the passes (less padding); the update
    // is the batch's either way.
    let mut batch = batch.to_vec();
    batch.sort_by_key(|&i| demos[i].prompt_ids.len() + demos[i].response_ids.len());
    let vars = learner.params.vars();
    let mut grads = GradStore::default();
    let mut loss = 0.0;
    for micro in batch.chunks(config.micro_batch) {
        let rows: Vec<ScoreRow<'_>> = micro
            .iter()
            .map(|&i| ScoreRow {
                prompt_ids: &demos[i].prompt_ids,
                response_ids: &demos[i].response_ids,
            })
            .collect();
        let scores = score_tokens(learner.policy.model(), &rows, 1.0, Pass::Train)?;
        // Each pass adds its share of the batch's token mean.
        let nll = scores
            .logprobs
            .mul(&scores.mask)
            .and_then(|t| t.sum_all())
            .and_then(|t| t.affine(-1.0 / total as f64, 0.0))
            .map_err(candle)?;
        let micro_grads = lamer_policy::backward(&nll)?;
        super::update::accumulate(&mut grads, &micro_grads, &vars).map_err(candle)?;
        loss += nll.to_scalar::<f32>().map_err(candle)? as f64;
    }
    let norm = clip_grad_norm(&mut grads, &vars, config.grad_clip)?;
    if norm.is_finite() {
        learner.optimizer.step(&grads)?;
    }
    Ok(Some((loss, total, norm)))
}

/// Writes the learner's model as a directory `--model` loads: the source
/// directory's config and tokenizer files plus the trained weights (full
/// fine-tuning), or a PEFT adapter next to them (LoRA).
pub fn export_model_dir(learner: &Learner, dest: &Path) -> Result<PathBuf, TrainError> {
    let io = |e: std::io::Error| TrainError::Config(format!("export to {}: {e}", dest.display()));
    std::fs::create_dir_all(dest).map_err(io)?;
    let entries = std::fs::read_dir(&learner.source_dir).map_err(io)?;
    for entry in entries {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().to_string();
        let is_weights =
            name.ends_with(".safetensors") || name.ends_with(".safetensors.index.json");
        if entry.path().is_file() && !is_weights {
            std::fs::copy(entry.path(), dest.join(&name)).map_err(io)?;
        }
    }
    match learner.params.mode() {
        TrainMode::Full => learner.params.save(dest)?,
        TrainMode::Lora(_) => {
            return Err(TrainError::Config(
                "exporting a LoRA run as a model directory is not supported; train SFT with \
                 full fine-tuning (the default)"
                    .into(),
            ));
        }
    }
    Ok(dest.to_path_buf())
}

/// Reloads an exported model directory's trainable weights into a fresh
/// model of the same source, for checks.
pub fn reload_full(dir: &Path) -> Result<LlmPolicy, TrainError> {
    let mut policy = LlmPolicy::load(dir, &lamer_policy::Device::Cpu, lamer_policy::DType::F32)?;
    let _ = TrainableParams::new(policy.model_mut(), TrainMode::Full, 0)?;
    Ok(policy)
}
