//! The training forward: per-token log-probabilities and entropies of
//! response tokens, with gradients.
//!
//! Rows are `(prompt_ids, response_ids)` pairs, concatenated and right-padded
//! into one batch (a causal model never looks right, so right padding needs
//! only a key mask). Only the hidden states that predict response tokens are
//! projected to the vocabulary, so memory grows with response length, not
//! prompt length.
//!
//! **Which log-prob.** Sampling reports `log_softmax(logits / T)` at the
//! sampling temperature `T`, before top-k/top-p filtering (see
//! [`crate::sampling`]); pass the same `T` here ([`effective_temperature`]
//! maps greedy, `T = 0`, to 1) and the two agree up to float error, which is
//! what a PPO importance ratio needs.

use candle_core::{D, DType, Device, Tensor};

use crate::PolicyError;
use crate::error::Result;
use crate::model::{Pass, Qwen3Model, causal_padding_mask};
use crate::train_kernels;

/// The temperature log-probs are reported at: `T`, or 1 for greedy decoding.
pub fn effective_temperature(temperature: f32) -> f64 {
    if temperature > 0.0 {
        temperature as f64
    } else {
        1.0
    }
}

/// One row to score.
#[derive(Debug, Clone, Copy)]
pub struct ScoreRow<'a> {
    pub prompt_ids: &'a [u32],
    pub response_ids: &'a [u32],
}

/// Per-token results, each `(B, R)` where `R` is the longest response;
/// entries past a row's response length are 0 and `mask` is 0 there.
#[derive(Debug, Clone)]
pub struct TokenScores {
    /// `log p(token)` under `softmax(logits / T)` (f32, differentiable).
    pub logprobs: Tensor,
    /// The entropy of `softmax(logits / T)` at each response position.
    pub entropy: Tensor,
    /// 1 for real response tokens, 0 for padding (f32).
    pub mask: Tensor,
}

/// Scores `rows` with `model` at `temperature` (see [`effective_temperature`]).
pub fn score_tokens(
    model: &Qwen3Model,
    rows: &[ScoreRow<'_>],
    temperature: f32,
    pass: Pass,
) -> Result<TokenScores> {
    let device = model.device().clone();
    let b = rows.len();
    let max_len = rows
        .iter()
        .map(|r| r.prompt_ids.len() + r.response_ids.len())
        .max()
        .unwrap_or(0);
    let max_resp = rows.iter().map(|r| r.response_ids.len()).max().unwrap_or(0);
    for (index, r) in rows.iter().enumerate() {
        if r.prompt_ids.is_empty() {
            return Err(PolicyError::EmptyPrompt { index });
        }
    }
    let limit = model.config().max_position_embeddings;
    if let Some((index, r)) = rows
        .iter()
        .enumerate()
        .find(|(_, r)| r.prompt_ids.len() + r.response_ids.len() > limit)
    {
        return Err(PolicyError::PromptTooLong {
            index,
            tokens: r.prompt_ids.len() + r.response_ids.len(),
            limit,
            max_new_tokens: r.response_ids.len(),
        });
    }
    if b == 0 || max_resp == 0 {
        let z = Tensor::zeros((b, max_resp), DType::F32, &device)?;
        return Ok(TokenScores {
            logprobs: z.clone(),
            entropy: z.clone(),
            mask: z,
        });
    }

    let mut ids = vec![0u32; b * max_len];
    let mut valid = vec![vec![0u8; max_len]; b];
    // For response token j of row r: the flat index of the hidden state that
    // predicts it (position prompt_len - 1 + j), its id, and its mask.
    let mut gather = vec![0u32; b * max_resp];
    let mut targets = vec![0u32; b * max_resp];
    let mut mask = vec![0f32; b * max_resp];
    for (r, row) in rows.iter().enumerate() {
        let seq = row.prompt_ids.iter().chain(row.response_ids);
        for (j, &t) in seq.enumerate() {
            ids[r * max_len + j] = t;
            valid[r][j] = 1;
        }
        let p = row.prompt_ids.len();
        for (j, &t) in row.response_ids.iter().enumerate() {
            gather[r * max_resp + j] = (r * max_len + p - 1 + j) as u32;
            targets[r * max_resp + j] = t;
            mask[r * max_resp + j] = 1.0;
        }
    }
    let input = Tensor::from_vec(ids, (b, max_len), &device)?;
    let positions: Vec<u32> = (0..b).flat_map(|_| 0..max_len as u32).collect();
    let positions = Tensor::from_vec(positions, (b, max_len), &device)?;
    let attn_mask = causal_padding_mask(&valid, &device)?;
    let hidden = model.forward_hidden(&input, &positions, &attn_mask, None, pass)?;
    let h = hidden.dim(D::Minus1)?;
    let picked = hidden
        .reshape((b * max_len, h))?
        .index_select(&Tensor::from_vec(gather, b * max_resp, &device)?, 0)?;
    let logits = model.logits(&picked)?.to_dtype(DType::F32)?;
    let (token_lp, entropy) = if device.is_cpu() {
        let scale = (1.0 / effective_temperature(temperature)) as f32;
        train_kernels::token_logprobs(&logits, &targets, scale)?
    } else {
        composed_token_logprobs(&logits, targets, temperature)?
    };
    let token_lp = token_lp.reshape((b, max_resp))?;
    let entropy = entropy.reshape((b, max_resp))?;
    let mask = Tensor::from_vec(mask, (b, max_resp), &Device::Cpu)?.to_device(&device)?;
    Ok(TokenScores {
        logprobs: (token_lp * &mask)?,
        entropy: (entropy * &mask)?,
        mask,
    })
}

/// `(log p(target), entropy)` per row of `logits` from stock differentiable
/// ops (any device); the CPU uses the fused [`train_kernels::token_logprobs`].
fn composed_token_logprobs(
    logits: &Tensor,
    targets: Vec<u32>,
    temperature: f32,
) -> Result<(Tensor, Tensor)> {
    let n = targets.len();
    let logits = (logits / effective_temperature(temperature))?;
    let log_probs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let targets = Tensor::from_vec(targets, (n, 1), logits.device())?;
    let token_lp = log_probs.gather(&targets, 1)?.squeeze(1)?;
    let entropy = (log_probs.exp()? * &log_probs)?.sum(D::Minus1)?.neg()?;
    Ok((token_lp, entropy))
}
