//! Batched autoregressive generation with a KV cache.
//!
//! Prompts of different lengths are **left-padded** to a common length, so the
//! newest token of every row sits in the same column. Each row keeps its own
//! positions (pads do not advance them) and a key-padding mask that hides its
//! pads from attention, so a row's output does not depend on how much padding
//! its batch-mates forced on it. Identical prompts (the G trials of a task at
//! their first attempt) are prefilled once and fanned out to their rows.
//! Prefill runs in row groups bounded by a token
//! budget; attention itself bounds its `rows × L²` scores per query block
//! ([`crate::attention`]). The KV cache is allocated once for prompt +
//! `max_new_tokens` and written in place ([`KvCache`]). After each step, rows
//! that emitted a stop token or hit `max_new_tokens` **leave the batch**: the
//! last live row takes each one's place in the cache (and in every per-row
//! list here), so later steps only pay for live rows.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use lamer_sdk::SeededRng;

use crate::error::Result;
use crate::kv_cache::KvCache;
use crate::model::{MASKED, Pass, Qwen3Model, causal_padding_mask};
use crate::sampling::sample_rows;
use crate::{FinishReason, PolicyError, SamplingParams};

/// One prompt to continue.
#[derive(Debug, Clone)]
pub struct GenerationInput {
    pub prompt_ids: Vec<u32>,
    /// Seeds this row's sampling.
    pub seed: u64,
}

/// One continuation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// Generated tokens, without the stop token.
    pub tokens: Vec<u32>,
    /// The sampling log-prob of each token (see [`crate::sampling`]).
    pub logprobs: Vec<f32>,
    /// The stop token and its log-prob, when generation ended on one.
    pub stop: Option<(u32, f32)>,
    pub finish: FinishReason,
}

/// Settings shared by a batch.
#[derive(Debug, Clone)]
pub struct GenerationConfig {
    pub sampling: SamplingParams,
    /// Tokens that end a response (`<|im_end|>`, `<|endoftext|>`).
    pub stop_tokens: Vec<u32>,
    /// Prefill processes at most this many `rows × L` prompt tokens at once.
    pub prefill_token_budget: usize,
}

impl GenerationConfig {
    pub fn new(sampling: SamplingParams, stop_tokens: Vec<u32>) -> Self {
        GenerationConfig {
            sampling,
            stop_tokens,
            prefill_token_budget: 16_384,
        }
    }
}

/// A live row of the batch.
struct Row {
    /// Index into the caller's inputs.
    origin: usize,
    rng: SeededRng,
    /// Position of the next token to feed.
    next_position: u32,
    /// Tokens seen so far, sorted and unique (kept only for the repetition
    /// penalty).
    seen: Vec<u32>,
    out: Generated,
}

fn sorted_unique(ids: &[u32]) -> Vec<u32> {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

/// Adds `token` to a sorted unique list.
fn insert_seen(seen: &mut Vec<u32>, token: u32) {
    if let Err(at) = seen.binary_search(&token) {
        seen.insert(at, token);
    }
}

/// The distinct prompts of `inputs` in first-seen order, and for each input
/// the index of its prompt among them.
fn distinct_prompts(inputs: &[GenerationInput]) -> (Vec<&[u32]>, Vec<u32>) {
    let mut seen: HashMap<&[u32], u32> = HashMap::new();
    let mut unique = Vec::new();
    let source = inputs
        .iter()
        .map(|input| {
            let ids = input.prompt_ids.as_slice();
            *seen.entry(ids).or_insert_with(|| {
                unique.push(ids);
                (unique.len() - 1) as u32
            })
        })
        .collect();
    (unique, source)
}

/// Prompt tokens a batch's prefill computes (rows × the padded width) with
/// and without prefilling identical prompts once: `(computed, saved)`.
pub fn prefill_tokens(inputs: &[GenerationInput]) -> (usize, usize) {
    let width = inputs.iter().map(|i| i.prompt_ids.len()).max().unwrap_or(0);
    let unique = distinct_prompts(inputs).0.len();
    (unique * width, (inputs.len() - unique) * width)
}

/// Prefills `prompts`, left-padded to `width`, in row groups of at most
/// `budget` tokens, into one cache sized for `width + max_new` positions.
/// Returns the cache, the last position's f32 logits `(rows, vocab)` and each
/// row's key-validity mask.
fn prefill(
    model: &Qwen3Model,
    prompts: &[&[u32]],
    width: usize,
    max_new: usize,
    budget: usize,
) -> Result<(KvCache, Tensor, Vec<Vec<u8>>)> {
    let device = model.device();
    let group = (budget / width.max(1)).max(1);
    let c = model.config();
    let mut cache = KvCache::preallocated(
        c.num_hidden_layers,
        prompts.len(),
        c.num_key_value_heads,
        width + max_new,
        c.head_dim(),
        model.dtype(),
        device,
    )?;
    let mut key_valid: Vec<Vec<u8>> = Vec::with_capacity(prompts.len());
    let mut logits = Vec::new();
    for (g, chunk) in prompts.chunks(group).enumerate() {
        let mut ids = Vec::with_capacity(chunk.len() * width);
        let mut positions = Vec::with_capacity(chunk.len() * width);
        let mut valid = Vec::with_capacity(chunk.len());
        for prompt in chunk {
            let pad = width - prompt.len();
            ids.extend(std::iter::repeat_n(0u32, pad));
            ids.extend_from_slice(prompt);
            positions.extend(std::iter::repeat_n(0u32, pad));
            positions.extend(0..prompt.len() as u32);
            let mut v = vec![0u8; pad];
            v.resize(width, 1);
            valid.push(v);
        }
        let n = chunk.len();
        let ids = Tensor::from_vec(ids, (n, width), device)?;
        let positions = Tensor::from_vec(positions, (n, width), device)?;
        let mask = causal_padding_mask(&valid, device)?;
        let mut rows_cache = cache.row_group(g * group, n)?;
        let hidden = model.forward_hidden(
            &ids,
            &positions,
            &mask,
            Some(&mut rows_cache),
            Pass::Inference,
        )?;
        let last = hidden.narrow(1, width - 1, 1)?.squeeze(1)?;
        logits.push(model.logits(&last)?.to_dtype(DType::F32)?);
        key_valid.extend(valid);
    }
    cache.set_len(width)?;
    Ok((cache, Tensor::cat(&logits, 0)?, key_valid))
}

/// Generates a continuation for every input (outputs in input order).
pub fn generate(
    model: &Qwen3Model,
    inputs: &[GenerationInput],
    config: &GenerationConfig,
) -> Result<Vec<Generated>> {
    let device = model.device().clone();
    let limit = model.config().max_position_embeddings;
    let max_new = config.sampling.max_new_tokens;
    for (index, input) in inputs.iter().enumerate() {
        if input.prompt_ids.is_empty() {
            return Err(PolicyError::EmptyPrompt { index });
        }
        if input.prompt_ids.len() + max_new > limit {
            return Err(PolicyError::PromptTooLong {
                index,
                tokens: input.prompt_ids.len(),
                limit,
                max_new_tokens: max_new,
            });
        }
    }
    let mut results: Vec<Option<Generated>> = vec![None; inputs.len()];
    let empty = |finish| Generated {
        tokens: Vec::new(),
        logprobs: Vec::new(),
        stop: None,
        finish,
    };
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    if max_new == 0 {
        return Ok(inputs.iter().map(|_| empty(FinishReason::Length)).collect());
    }

    // Identical prompts (the G trials of a task at their first attempt) are
    // prefilled once; their cache rows and logits are then fanned out.
    let width = inputs.iter().map(|i| i.prompt_ids.len()).max().unwrap_or(0);
    let (unique, source) = distinct_prompts(inputs);
    let (mut cache, mut logits, unique_valid) =
        prefill(model, &unique, width, max_new, config.prefill_token_budget)?;
    if unique.len() < inputs.len() {
        let index = Tensor::new(source.as_slice(), &device)?;
        cache = cache.select_rows(&index)?;
        logits = logits.index_select(&index, 0)?;
    }
    let mut key_valid: Vec<Vec<u8>> = source
        .iter()
        .map(|&s| unique_valid[s as usize].clone())
        .collect();
    let penalty = config.sampling.repetition_penalty != 1.0;

    let mut rows: Vec<Row> = inputs
        .iter()
        .enumerate()
        .map(|(origin, input)| Row {
            origin,
            rng: SeededRng::new(input.seed),
            next_position: input.prompt_ids.len() as u32,
            seen: if penalty {
                sorted_unique(&input.prompt_ids)
            } else {
                Vec::new()
            },
            out: empty(FinishReason::Length),
        })
        .collect();

    loop {
        // Sample one token per live row; note which rows finish. `fed`
        // keeps one entry per row (finished rows' entries are removed below).
        let greedy = config.sampling.temperature <= 0.0;
        let uniforms: Vec<f64> = rows
            .iter_mut()
            .map(|r| if greedy { 0.0 } else { r.rng.unit() })
            .collect();
        let seen: Vec<&[u32]> = rows.iter().map(|r| r.seen.as_slice()).collect();
        let picks = sample_rows(&logits, &config.sampling, &seen, &uniforms)?;
        let mut fed = Vec::with_capacity(rows.len());
        let mut finished = Vec::new();
        for (i, (row, (token, logprob))) in rows.iter_mut().zip(picks).enumerate() {
            fed.push(token);
            if penalty {
                insert_seen(&mut row.seen, token);
            }
            if config.stop_tokens.contains(&token) {
                row.out.stop = Some((token, logprob));
                row.out.finish = FinishReason::Stop;
                finished.push(i);
                continue;
            }
            row.out.tokens.push(token);
            row.out.logprobs.push(logprob);
            if row.out.tokens.len() >= max_new {
                row.out.finish = FinishReason::Length;
                finished.push(i);
            }
        }
        if !finished.is_empty() {
            // Same order as the cache: each finished row takes the last one.
            cache.swap_remove_rows(&finished)?;
            finished.sort_unstable_by(|a, b| b.cmp(a));
            for &i in &finished {
                let row = rows.swap_remove(i);
                key_valid.swap_remove(i);
                fed.swap_remove(i);
                results[row.origin] = Some(row.out);
            }
            if rows.is_empty() {
                break;
            }
        }

        // Feed the sampled tokens: one new column for every live row.
        let n = rows.len();
        let positions: Vec<u32> = rows.iter().map(|r| r.next_position).collect();
        for row in rows.iter_mut() {
            row.next_position += 1;
        }
        for valid in key_valid.iter_mut() {
            valid.push(1);
        }
        let keys = key_valid[0].len();
        let mask: Vec<f32> = key_valid
            .iter()
            .flat_map(|v| {
                v.iter()
                    .map(|&ok| if ok == 1 { 0.0 } else { MASKED as f32 })
            })
            .collect();
        let mask = Tensor::from_vec(mask, (n, 1, 1, keys), &Device::Cpu)?.to_device(&device)?;
        let ids = Tensor::from_vec(fed, (n, 1), &device)?;
        let positions = Tensor::from_vec(positions, (n, 1), &device)?;
        let hidden =
            model.forward_hidden(&ids, &positions, &mask, Some(&mut cache), Pass::Inference)?;
        logits = model.logits(&hidden.squeeze(1)?)?.to_dtype(DType::F32)?;
    }
    for row in rows {
        results[row.origin] = Some(row.out);
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| PolicyError::Compute("a generation row was lost".into())))
        .collect()
}
