//! # The policy update: PPO over mini-batches of rows
//!
//! One training step's rows (one LLM call each) are split, in rollout order,
//! into **mini-batches** (LaMer: 64 rows); each mini-batch is one optimiser
//! update. A mini-batch is processed in **micro-batches** (LaMer: 16 rows) whose
//! gradients are summed before the update, so memory is bounded by the
//! micro-batch while the update sees the whole mini-batch (the loss is a
//! token-mean over the mini-batch, see [`super::ppo`]). Then the global
//! gradient norm is clipped (1.0) and AdamW steps. One epoch by default.
//!
//! The importance ratio's denominator is the sampling log-prob the rollout
//! recorded (the policy reports it at the sampling temperature, the same
//! temperature this module scores at), so no extra forward pass recomputes
//! "old" log-probs.
//!
//! A mini-batch whose gradient norm is not finite is skipped (no update), as
//! verl does, and counted in [`UpdateStats::skipped_updates`].

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use lamer_policy::{AdamW, Pass, PolicyError, Qwen3Model, ScoreRow, clip_grad_norm, score_tokens};
use serde::{Deserialize, Serialize};

use super::ppo::{PpoBatch, PpoConfig, PpoError, ppo_loss};

/// One row to learn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainRow {
    pub prompt_ids: Vec<u32>,
    pub response_ids: Vec<u32>,
    /// The sampling log-prob of each response token.
    pub old_logprobs: Vec<f32>,
    /// The row's advantage (the same for every token of the row).
    pub advantage: f32,
}

/// How the update batches and clips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateConfig {
    /// Rows per optimiser update.
    pub mini_batch: usize,
    /// Rows per forward/backward pass.
    pub micro_batch: usize,
    pub epochs: usize,
    /// Max global gradient norm.
    pub grad_clip: f64,
    /// The sampling temperature the old log-probs were computed at.
    pub temperature: f32,
    pub ppo: PpoConfig,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            mini_batch: 64,
            micro_batch: 16,
            epochs: 1,
            grad_clip: 1.0,
            temperature: 1.0,
            ppo: PpoConfig::default(),
        }
    }
}

/// Why an update failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("update: row {index} has {logprobs} old log-probs for {tokens} response tokens")]
    LogprobCount {
        index: usize,
        logprobs: usize,
        tokens: usize,
    },
    #[error("update: mini_batch, micro_batch and epochs must be at least 1")]
    Batching,
    #[error("update: scoring the rows failed: {0}")]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Loss(#[from] PpoError),
    #[error("update: tensor error: {0}")]
    Candle(#[from] candle_core::Error),
}

/// What an update did, as means over response tokens (and over updates for
/// the gradient norm).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateStats {
    /// `actor/pg_loss`.
    pub pg_loss: f64,
    /// `actor/entropy`.
    pub entropy: f64,
    /// `actor/pg_clipfrac`.
    pub pg_clipfrac: f64,
    /// `actor/pg_clipfrac_lower` (dual clip).
    pub pg_clipfrac_lower: f64,
    /// `actor/ppo_kl`: mean of old − new log-prob.
    pub ppo_kl: f64,
    /// `actor/kl_loss` (0 without a reference).
    pub kl_loss: f64,
    /// `actor/grad_norm`: mean pre-clip global norm over updates.
    pub grad_norm: f64,
    /// Optimiser updates applied.
    pub updates: usize,
    /// Mini-batches skipped for a non-finite gradient.
    pub skipped_updates: usize,
    /// Response tokens trained on (summed over epochs).
    pub tokens: usize,
}

fn padded(rows: &[&TrainRow], width: usize, value: impl Fn(&TrainRow, usize) -> f32) -> Vec<f32> {
    let mut out = vec![0f32; rows.len() * width];
    for (r, row) in rows.iter().enumerate() {
        for j in 0..row.response_ids.len() {
            out[r * width + j] = value(row, j);
        }
    }
    out
}

/// Adds `grads` of `vars` into `acc` (gradient accumulation over micro-batches).
pub(crate) fn accumulate(
    acc: &mut GradStore,
    grads: &GradStore,
    vars: &[Var],
) -> candle_core::Result<()> {
    for var in vars {
        if let Some(g) = grads.get(var) {
            let sum = match acc.get(var) {
                Some(prev) => prev.add(g)?,
                None => g.clone(),
            };
            acc.insert(var, sum.detach());
        }
    }
    Ok(())
}

/// Runs the PPO update on `rows`: `model` is the trainable policy whose
/// trainable `vars` the `optimizer` owns; `reference` is the frozen model for
/// the KL term (used only when `config.ppo.kl_coef != 0`).
pub fn ppo_update(
    model: &Qwen3Model,
    reference: Option<&Qwen3Model>,
    vars: &[Var],
    optimizer: &mut AdamW,
    rows: &[TrainRow],
    config: &UpdateConfig,
) -> Result<UpdateStats, UpdateError> {
    if config.mini_batch == 0 || config.micro_batch == 0 || config.epochs == 0 {
        return Err(UpdateError::Batching);
    }
    for (index, row) in rows.iter().enumerate() {
        if row.old_logprobs.len() != row.response_ids.len() {
            return Err(UpdateError::LogprobCount {
                index,
                logprobs: row.old_logprobs.len(),
                tokens: row.response_ids.len(),
            });
        }
    }
    // Rows without tokens (scripted policies, empty answers) carry no gradient.
    let rows: Vec<&TrainRow> = rows
        .iter()
        .filter(|r| !r.response_ids.is_empty() && !r.prompt_ids.is_empty())
        .collect();
    let device = model.device().clone();
    let use_reference = config.ppo.kl_coef != 0.0 && reference.is_some();

    let mut stats = UpdateStats::default();
    let (mut pg, mut ent, mut clip, mut dual, mut approx, mut kl, mut norms) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for _ in 0..config.epochs {
        for mini in rows.chunks(config.mini_batch) {
            let tokens: usize = mini.iter().map(|r| r.response_ids.len()).sum();
            let mut acc = GradStore::default();
            for micro in mini.chunks(config.micro_batch) {
                let score_rows: Vec<ScoreRow<'_>> = micro
                    .iter()
                    .map(|r| ScoreRow {
                        prompt_ids: &r.prompt_ids,
                        response_ids: &r.response_ids,
                    })
                    .collect();
                let scores = score_tokens(model, &score_rows, config.temperature, Pass::Train)?;
                let width = scores.logprobs.dim(1)?;
                let shape = (micro.len(), width);
                let old = Tensor::from_vec(
                    padded(micro, width, |r, j| r.old_logprobs[j]),
                    shape,
                    &Device::Cpu,
                )?
                .to_device(&device)?;
                let adv = Tensor::from_vec(
                    padded(micro, width, |r, _| r.advantage),
                    shape,
                    &Device::Cpu,
                )?
                .to_device(&device)?;
                let ref_lp = match (use_reference, reference) {
                    (true, Some(reference)) => Some(
                        score_tokens(reference, &score_rows, config.temperature, Pass::Inference)?
                            .logprobs
                            .detach(),
                    ),
                    _ => None,
                };
                let out = ppo_loss(
                    PpoBatch {
                        logprobs: &scores.logprobs,
                        old_logprobs: &old,
                        advantages: &adv,
                        mask: &scores.mask,
                        entropy: Some(&scores.entropy),
                        ref_logprobs: ref_lp.as_ref(),
                    },
                    &config.ppo,
                    tokens as f64,
                )?;
                // Also collects the gradients of checkpointed layers.
                let grads = lamer_policy::backward(&out.loss)?;
                accumulate(&mut acc, &grads, vars)?;
                pg += out.pg_loss_sum;
                ent += out.entropy_sum;
                clip += out.clipped_tokens;
                dual += out.dual_clipped_tokens;
                approx += out.approx_kl_sum;
                kl += out.kl_sum;
            }
            stats.tokens += tokens;
            let norm = clip_grad_norm(&mut acc, vars, config.grad_clip)?;
            if norm.is_finite() {
                optimizer.step(&acc)?;
                stats.updates += 1;
                norms += norm;
            } else {
                stats.skipped_updates += 1;
            }
        }
    }
    let n = stats.tokens.max(1) as f64;
    stats.pg_loss = pg / n;
    stats.entropy = ent / n;
    stats.pg_clipfrac = clip / n;
    stats.pg_clipfrac_lower = dual / n;
    stats.ppo_kl = approx / n;
    stats.kl_loss = kl / n;
    stats.grad_norm = norms / stats.updates.max(1) as f64;
    Ok(stats)
}
