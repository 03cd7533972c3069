//! Choosing the next token from a row of logits: greedy, or temperature
//! sampling with optional top-k and top-p (nucleus) filtering, after an
//! optional repetition penalty.
//!
//! Two implementations of the same rule:
//! - [`sample_rows`] runs on the model's device with tensor ops, for a whole
//!   batch at once; only the chosen ids and their log-probs come back to the
//!   host (a few bytes per row instead of a vocabulary of logits). Generation
//!   uses it, on the CPU as on a GPU.
//! - [`sample_with_uniform`] is the plain host reference, one row at a time in
//!   f64; tests hold the device path to it.
//!
//! **The rule.** The repetition penalty (transformers'
//! `RepetitionPenaltyLogitsProcessor`) divides the positive logits of tokens
//! seen so far (prompt and response) by `repetition_penalty` and multiplies
//! the negative ones. Greedy takes the argmax of the penalised logits (the
//! lowest id among equals). Otherwise the penalised logits are divided by the
//! temperature `T`; top-k keeps the `k` largest (ties to the lower id), top-p
//! the shortest prefix of those, largest first, whose probability mass reaches
//! `top_p`; the row's uniform `u` picks by inverse CDF — over the vocabulary
//! in id order when nothing is filtered, over the kept tokens largest first
//! otherwise.
//!
//! **Reported log-prob.** Each sampled token comes with
//! `log_softmax(logits / T)[token]` of the *raw* logits: before the
//! repetition penalty and before top-k/top-p (for greedy decoding, `T` is
//! taken as 1). This is what the training forward recomputes
//! ([`crate::scoring::score_tokens`]) — penalty and filters are sampling
//! devices, and the unfiltered value is well defined for every token, so PPO
//! ratios stay finite.
//!
//! Randomness comes from the row's own [`SeededRng`] (one uniform draw per
//! sampled token, none for greedy), so a response depends only on its
//! request's seed and its logits.

use candle_core::{D, DType, Device, Tensor};
use lamer_sdk::SeededRng;

use crate::SamplingParams;
use crate::error::Result;
use crate::scoring::effective_temperature;

/// Top-k up to this size is found by repeated argmax on the device (any
/// device); a larger k, or top-p without top-k, sorts the vocabulary with
/// candle's `arg_sort_last_dim`, whose CUDA kernel sorts a row in shared
/// memory and so may fail for a 150k vocabulary. LaMer's settings (no
/// filter for training, top-k 20 + top-p 0.8 for evaluation) never sort.
const MAX_ITERATIVE_TOP_K: usize = 64;

/// Picks a token from `logits` (one vocabulary row, f32) with no repetition
/// penalty history; returns it with its log-prob as described in the module
/// docs.
pub fn sample_token(logits: &[f32], params: &SamplingParams, rng: &mut SeededRng) -> (u32, f32) {
    let u = if params.temperature <= 0.0 {
        0.0
    } else {
        rng.unit()
    };
    sample_with_uniform(logits, params, &[], u)
}

/// `logits` after the repetition penalty for the tokens in `seen`.
pub fn penalised(logits: &[f32], seen: &[u32], penalty: f32) -> Vec<f32> {
    let mut out = logits.to_vec();
    if penalty != 1.0 {
        let mut done = vec![false; out.len()];
        for &t in seen {
            let t = t as usize;
            if t < out.len() && !done[t] {
                done[t] = true;
                out[t] = penalise(out[t], penalty);
            }
        }
    }
    out
}

fn penalise(logit: f32, penalty: f32) -> f32 {
    if logit > 0.0 {
        logit / penalty
    } else {
        logit * penalty
    }
}

/// The host reference of the sampling rule for one row, given its uniform
/// `u` in [0, 1) (ignored by greedy decoding) and the tokens seen so far.
pub fn sample_with_uniform(
    logits: &[f32],
    params: &SamplingParams,
    seen: &[u32],
    u: f64,
) -> (u32, f32) {
    let t = effective_temperature(params.temperature);
    let logprob = log_softmax_at(logits, t);
    let pen = penalised(logits, seen, params.repetition_penalty);
    if params.temperature <= 0.0 {
        let best = argmax(&pen);
        return (best as u32, logprob(best));
    }
    let sample_lp = log_softmax_at(&pen, t);
    let token = if params.top_k == 0 && params.top_p >= 1.0 {
        // Plain sampling: inverse CDF in vocabulary order, no sort needed.
        let mut acc = 0f64;
        let mut chosen = pen.len() - 1;
        for i in 0..pen.len() {
            acc += (sample_lp(i) as f64).exp();
            if u < acc {
                chosen = i;
                break;
            }
        }
        chosen
    } else {
        let mut order: Vec<usize> = (0..pen.len()).collect();
        let by_logit_desc = |a: &usize, b: &usize| pen[*b].total_cmp(&pen[*a]).then(a.cmp(b));
        if params.top_k > 0 && params.top_k < order.len() {
            order.select_nth_unstable_by(params.top_k - 1, by_logit_desc);
            order.truncate(params.top_k);
        }
        order.sort_by(by_logit_desc);
        let probs: Vec<f64> = order.iter().map(|&i| (sample_lp(i) as f64).exp()).collect();
        // Nucleus: the smallest prefix whose mass reaches top_p (at least one).
        let mass: f64 = probs.iter().sum();
        let mut keep = probs.len();
        if params.top_p < 1.0 {
            let mut acc = 0f64;
            for (n, p) in probs.iter().enumerate() {
                acc += p / mass;
                if acc >= params.top_p as f64 {
                    keep = n + 1;
                    break;
                }
            }
        }
        let kept: f64 = probs[..keep].iter().sum();
        let target = u * kept;
        let mut acc = 0f64;
        let mut chosen = order[keep - 1];
        for (n, p) in probs[..keep].iter().enumerate() {
            acc += p;
            if target < acc {
                chosen = order[n];
                break;
            }
        }
        chosen
    };
    (token as u32, logprob(token))
}

/// `i ↦ log_softmax(logits / t)[i]`.
fn log_softmax_at(logits: &[f32], t: f64) -> impl Fn(usize) -> f32 + '_ {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let log_z = logits
        .iter()
        .map(|&l| ((l as f64 - max) / t).exp())
        .sum::<f64>()
        .ln();
    move |i| ((logits[i] as f64 - max) / t - log_z) as f32
}

fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best
}

/// Samples one token per row of `logits` `(n, vocab)` on their device: the
/// rule of the module docs, with `seen[r]` the tokens row `r` has seen (read
/// only when the repetition penalty is on) and `uniforms[r]` its draw
/// (ignored by greedy decoding). Returns `(token, log-prob)` per row; only
/// these cross to the host.
pub fn sample_rows(
    logits: &Tensor,
    params: &SamplingParams,
    seen: &[&[u32]],
    uniforms: &[f64],
) -> Result<Vec<(u32, f32)>> {
    let (n, vocab) = logits.dims2()?;
    if n == 0 {
        return Ok(Vec::new());
    }
    let device = logits.device().clone();
    let raw = logits.to_dtype(DType::F32)?;
    let t = effective_temperature(params.temperature);
    let raw_scaled = (&raw / t)?;
    let raw_lse = logsumexp(&raw_scaled)?;
    let pen = if params.repetition_penalty != 1.0 {
        penalise_on_device(&raw, seen, params.repetition_penalty)?
    } else {
        raw
    };
    let chosen = if params.temperature <= 0.0 {
        pen.argmax_keepdim(D::Minus1)?
    } else {
        let u = Tensor::from_vec(
            uniforms.iter().map(|&u| u as f32).collect::<Vec<_>>(),
            (n, 1),
            &Device::Cpu,
        )?
        .to_device(&device)?;
        let scaled = (&pen / t)?;
        let probs = scaled.broadcast_sub(&logsumexp(&scaled)?)?.exp()?;
        if params.top_k == 0 && params.top_p >= 1.0 {
            inverse_cdf_in_vocab_order(&probs, &u)?
        } else {
            let k = if params.top_k == 0 || params.top_k >= vocab {
                vocab
            } else {
                params.top_k
            };
            let candidates = top_candidates(&pen, k)?;
            let cand_probs = probs.gather(&candidates, 1)?;
            let pos = nucleus_pick(&cand_probs, params.top_p, &u)?;
            candidates.gather(&pos, 1)?
        }
    };
    let logprob = raw_scaled.gather(&chosen, 1)?.sub(&raw_lse)?;
    let ids = chosen.flatten_all()?.to_vec1::<u32>()?;
    let lps = logprob.flatten_all()?.to_vec1::<f32>()?;
    Ok(ids.into_iter().zip(lps).collect())
}

/// `log Σ exp(x)` over the last axis, `(n, 1)`.
fn logsumexp(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?;
    Ok(x.broadcast_sub(&max)?
        .exp()?
        .sum_keepdim(D::Minus1)?
        .log()?
        .add(&max)?)
}

/// The repetition penalty applied to each row's seen tokens, on the device.
fn penalise_on_device(logits: &Tensor, seen: &[&[u32]], penalty: f32) -> Result<Tensor> {
    let n = logits.dim(0)?;
    let vocab = logits.dim(1)?;
    let mut rows: Vec<Vec<u32>> = (0..n)
        .map(|r| {
            let mut s: Vec<u32> = seen
                .get(r)
                .map_or(&[][..], |s| *s)
                .iter()
                .copied()
                .filter(|&t| (t as usize) < vocab)
                .collect();
            s.sort_unstable();
            s.dedup();
            s
        })
        .collect();
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    if width == 0 {
        return Ok(logits.clone());
    }
    // Pad each row with its own first token (rewritten with the same value)
    // or, for a row that saw nothing, with token 0 left unchanged.
    let mut valid = Vec::with_capacity(n * width);
    for row in rows.iter_mut() {
        let real = row.len();
        let pad = row.first().copied().unwrap_or(0);
        row.resize(width, pad);
        let ok = if real > 0 { 1f32 } else { 0f32 };
        valid.extend(std::iter::repeat_n(ok, width));
    }
    let device = logits.device();
    let index = Tensor::from_vec(rows.concat(), (n, width), &Device::Cpu)?.to_device(device)?;
    let valid = Tensor::from_vec(valid, (n, width), &Device::Cpu)?.to_device(device)?;
    let old = logits.gather(&index, 1)?;
    let scaled = old
        .ge(0f64)?
        .where_cond(&(&old / penalty as f64)?, &(&old * penalty as f64)?)?;
    // Positive logits divide, negative multiply; 0 is 0 either way.
    let new = valid.where_cond_f(&scaled, &old)?;
    let out = logits.force_contiguous()?;
    out.scatter_set(&index, &new, 1)?;
    Ok(out)
}

/// `mask ? a : b` for an f32 0/1 mask.
trait WhereF {
    fn where_cond_f(&self, a: &Tensor, b: &Tensor) -> Result<Tensor>;
}

impl WhereF for Tensor {
    fn where_cond_f(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        Ok(self.gt(0f64)?.where_cond(a, b)?)
    }
}

/// The `k` largest entries of each row, largest first (ties to the lower
/// id), as `(n, k)` u32 ids.
fn top_candidates(x: &Tensor, k: usize) -> Result<Tensor> {
    if k > MAX_ITERATIVE_TOP_K {
        let sorted = x.arg_sort_last_dim(false)?;
        return Ok(sorted.narrow(1, 0, k)?.contiguous()?);
    }
    let n = x.dim(0)?;
    let work = x.force_contiguous()?;
    let gone = Tensor::full(f32::NEG_INFINITY, (n, 1), x.device())?;
    let mut picks = Vec::with_capacity(k);
    for _ in 0..k {
        let best = work.argmax_keepdim(D::Minus1)?;
        work.scatter_set(&best, &gone, 1)?;
        picks.push(best);
    }
    Ok(Tensor::cat(&picks, 1)?)
}

/// Inclusive running sums along the last axis of a short `(n, k)` tensor.
fn cumsum_short(x: &Tensor) -> Result<Tensor> {
    let k = x.dim(1)?;
    let upper = Tensor::triu2(k, DType::F32, x.device())?;
    Ok(x.matmul(&upper)?)
}

/// How many entries of each row of `acc` are `<= limit` (per row, `(n, 1)`),
/// as f32.
fn count_at_most(acc: &Tensor, limit: &Tensor) -> Result<Tensor> {
    Ok(acc
        .broadcast_le(limit)?
        .to_dtype(DType::F32)?
        .sum_keepdim(D::Minus1)?)
}

/// The position, among candidates sorted largest first with probabilities
/// `p` `(n, k)`, that the nucleus rule and `u` `(n, 1)` pick; `(n, 1)` u32.
fn nucleus_pick(p: &Tensor, top_p: f32, u: &Tensor) -> Result<Tensor> {
    let k = p.dim(1)?;
    let acc = cumsum_short(p)?;
    let keep = if top_p < 1.0 {
        let mass = acc.narrow(1, k - 1, 1)?;
        let share = acc.broadcast_div(&mass)?;
        // The first prefix reaching top_p: one past the count still below it.
        let below = share
            .lt(top_p as f64)?
            .to_dtype(DType::F32)?
            .sum_keepdim(D::Minus1)?;
        (below + 1.0)?.clamp(1.0, k as f64)?
    } else {
        Tensor::full(k as f32, (p.dim(0)?, 1), p.device())?
    };
    let last = (&keep - 1.0)?.to_dtype(DType::U32)?;
    let kept = acc.gather(&last, 1)?;
    let target = (u * kept)?;
    let pos = count_at_most(&acc, &target)?.broadcast_minimum(&(keep - 1.0)?)?;
    Ok(pos.to_dtype(DType::U32)?)
}

/// Inverse-CDF sampling over the whole vocabulary in id order, `(n, 1)` u32:
/// block sums first, then the running sum inside the chosen block, so no
/// `vocab × vocab` matrix is ever formed.
fn inverse_cdf_in_vocab_order(probs: &Tensor, u: &Tensor) -> Result<Tensor> {
    let (n, vocab) = probs.dims2()?;
    let block = (vocab as f64).sqrt().ceil().max(1.0) as usize;
    let blocks = vocab.div_ceil(block);
    let padded = blocks * block;
    let probs = if padded > vocab {
        let pad = Tensor::zeros((n, padded - vocab), DType::F32, probs.device())?;
        Tensor::cat(&[probs, &pad], 1)?
    } else {
        probs.clone()
    };
    let grid = probs.reshape((n, blocks, block))?;
    let sums = grid.sum(2)?;
    let acc = cumsum_short(&sums)?;
    let b = count_at_most(&acc, u)?.clamp(0.0, (blocks - 1) as f64)?;
    let b_idx = b.to_dtype(DType::U32)?;
    let before = (acc.gather(&b_idx, 1)? - sums.gather(&b_idx, 1)?)?;
    let row_index = b_idx
        .unsqueeze(2)?
        .broadcast_as((n, 1, block))?
        .contiguous()?;
    let inner = grid.gather(&row_index, 1)?.squeeze(1)?;
    let inner_acc = cumsum_short(&inner)?.broadcast_add(&before)?;
    let w = count_at_most(&inner_acc, u)?.clamp(0.0, (block - 1) as f64)?;
    let token = ((b * block as f64)? + w)?.clamp(0.0, (vocab - 1) as f64)?;
    Ok(token.to_dtype(DType::U32)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_argmax_with_its_unit_temperature_logprob() {
        let logits = [0.0f32, 2.0, 1.0];
        let (t, lp) = sample_token(&logits, &SamplingParams::greedy(1), &mut SeededRng::new(0));
        assert_eq!(t, 1);
        let z: f64 = logits.iter().map(|&l| (l as f64).exp()).sum();
        assert!((lp as f64 - (2f64.exp() / z).ln()).abs() < 1e-6);
    }

    #[test]
    fn top_k_one_is_greedy_and_frequencies_follow_the_distribution() {
        let logits = [1.0f32, 3.0, 2.0, 0.5];
        let mut p = SamplingParams::training(1);
        p.top_k = 1;
        for seed in 0..20 {
            assert_eq!(sample_token(&logits, &p, &mut SeededRng::new(seed)).0, 1);
        }
        // Unfiltered sampling at T = 1 matches softmax frequencies.
        let p = SamplingParams::training(1);
        let mut rng = SeededRng::new(7);
        let mut counts = [0usize; 4];
        let n = 20_000;
        for _ in 0..n {
            counts[sample_token(&logits, &p, &mut rng).0 as usize] += 1;
        }
        let z: f64 = logits.iter().map(|&l| (l as f64).exp()).sum();
        for (i, &c) in counts.iter().enumerate() {
            let expected = (logits[i] as f64).exp() / z;
            assert!((c as f64 / n as f64 - expected).abs() < 0.015, "{i}: {c}");
        }
    }

    #[test]
    fn top_p_keeps_the_smallest_nucleus() {
        // Probabilities ~ [0.64, 0.24, 0.09, 0.03]: top_p 0.7 keeps two tokens.
        let logits = [3.0f32, 2.0, 1.0, 0.0];
        let mut p = SamplingParams::training(1);
        p.top_p = 0.7;
        let mut rng = SeededRng::new(3);
        let mut seen = [false; 4];
        for _ in 0..500 {
            seen[sample_token(&logits, &p, &mut rng).0 as usize] = true;
        }
        assert_eq!(seen, [true, true, false, false]);
    }

    #[test]
    fn the_repetition_penalty_divides_positive_and_multiplies_negative_logits() {
        let out = penalised(&[2.0, -2.0, 1.0], &[0, 1, 1], 2.0);
        assert_eq!(out, vec![1.0, -4.0, 1.0]);
        // Greedy follows the penalised logits; the log-prob stays the raw one.
        let mut p = SamplingParams::greedy(1);
        p.repetition_penalty = 4.0;
        let logits = [2.0f32, 1.0];
        let (t, lp) = sample_with_uniform(&logits, &p, &[0], 0.0);
        assert_eq!(t, 1);
        let z = 2f64.exp() + 1f64.exp();
        assert!((lp as f64 - (1f64.exp() / z).ln()).abs() < 1e-6);
    }

    /// Random logits `(n, vocab)` with a few exact ties.
    fn logits(n: usize, vocab: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = SeededRng::new(seed);
        (0..n)
            .map(|_| {
                let mut row: Vec<f32> = (0..vocab)
                    .map(|_| (rng.unit() as f32 - 0.5) * 8.0)
                    .collect();
                row[3] = row[5];
                row
            })
            .collect()
    }

    #[test]
    fn the_device_sampler_matches_the_host_reference_for_the_same_uniforms() {
        let (n, vocab) = (6, 300);
        let mut cases = vec![
            SamplingParams::greedy(1),
            SamplingParams::training(1),
            SamplingParams::evaluation(1),
        ];
        let mut top_p_only = SamplingParams::training(1);
        top_p_only.top_p = 0.9;
        top_p_only.temperature = 0.8;
        cases.push(top_p_only);
        let mut big_k = SamplingParams::evaluation(1);
        big_k.top_k = 100;
        cases.push(big_k);
        let mut penalised_eval = SamplingParams::evaluation(1);
        penalised_eval.repetition_penalty = 1.05;
        cases.push(penalised_eval);
        let mut penalised_greedy = SamplingParams::greedy(1);
        penalised_greedy.repetition_penalty = 3.0;
        cases.push(penalised_greedy);
        let mut penalised_plain = SamplingParams::training(1);
        penalised_plain.repetition_penalty = 1.3;
        cases.push(penalised_plain);
        let seen: Vec<Vec<u32>> = (0..n as u32)
            .map(|r| (0..r * 7).map(|t| (t * 13) % 300).collect())
            .collect();
        let seen_refs: Vec<&[u32]> = seen.iter().map(Vec::as_slice).collect();
        for (c, params) in cases.iter().enumerate() {
            for draw in 0..8u64 {
                let rows = logits(n, vocab, 100 * c as u64 + draw);
                let mut rng = SeededRng::new(draw);
                let uniforms: Vec<f64> = (0..n).map(|_| rng.unit()).collect();
                let flat: Vec<f32> = rows.concat();
                let t = Tensor::from_vec(flat, (n, vocab), &Device::Cpu).unwrap();
                let device = sample_rows(&t, params, &seen_refs, &uniforms).unwrap();
                for r in 0..n {
                    let host = sample_with_uniform(&rows[r], params, &seen[r], uniforms[r]);
                    assert_eq!(
                        device[r].0, host.0,
                        "case {c} draw {draw} row {r}: {params:?}"
                    );
                    assert!(
                        (device[r].1 - host.1).abs() < 1e-5,
                        "case {c} draw {draw} row {r}: {} vs {}",
                        device[r].1,
                        host.1
                    );
                }
            }
        }
    }

    #[test]
    fn the_vocab_order_inverse_cdf_covers_the_ends() {
        // u = 0 picks the first token with mass; u just below 1 the last.
        let p = Tensor::new(&[[0.0f32, 0.5, 0.5, 0.0, 0.0]], &Device::Cpu).unwrap();
        let lo = Tensor::new(&[[0.0f32]], &Device::Cpu).unwrap();
        let hi = Tensor::new(&[[0.999f32]], &Device::Cpu).unwrap();
        let pick = |u: &Tensor| {
            inverse_cdf_in_vocab_order(&p, u)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<u32>()
                .unwrap()[0]
        };
        assert_eq!(pick(&lo), 1);
        assert_eq!(pick(&hi), 2);
    }
}
