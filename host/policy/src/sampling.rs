//! Choosing the next token from a row of logits: greedy, or temperature
//! sampling with optional top-k and top-p (nucleus) filtering.
//!
//! **Reported log-prob.** Each sampled token comes with
//! `log_softmax(logits / T)[token]`: the temperature-scaled distribution
//! *before* top-k/top-p filtering (for greedy decoding, `T` is taken as 1).
//! This is what the training forward recomputes
//! ([`crate::scoring::score_tokens`]) — filtering is a sampling device, and the
//! unfiltered value is well defined for every token, so PPO ratios stay finite.
//!
//! Randomness comes from the row's own [`SeededRng`] (one uniform draw per
//! token), so a response depends only on its request's seed and its logits.

use lamer_sdk::SeededRng;

use crate::SamplingParams;
use crate::scoring::effective_temperature;

/// Picks a token from `logits` (one vocabulary row, f32); returns it with its
/// log-prob as described in the module docs.
pub fn sample_token(logits: &[f32], params: &SamplingParams, rng: &mut SeededRng) -> (u32, f32) {
    let t = effective_temperature(params.temperature);
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    // Scaled, max-shifted logits and their log-normaliser.
    let log_z = logits
        .iter()
        .map(|&l| ((l as f64 - max) / t).exp())
        .sum::<f64>()
        .ln();
    let logprob = |i: usize| ((logits[i] as f64 - max) / t - log_z) as f32;

    if params.temperature <= 0.0 {
        let best = argmax(logits);
        return (best as u32, logprob(best));
    }
    let u = rng.unit();
    let token = if params.top_k == 0 && params.top_p >= 1.0 {
        // Plain sampling: inverse CDF in vocabulary order, no sort needed.
        let mut acc = 0f64;
        let mut chosen = logits.len() - 1;
        for i in 0..logits.len() {
            acc += (logprob(i) as f64).exp();
            if u < acc {
                chosen = i;
                break;
            }
        }
        chosen
    } else {
        let mut order: Vec<usize> = (0..logits.len()).collect();
        let by_logit_desc = |a: &usize, b: &usize| logits[*b].total_cmp(&logits[*a]).then(a.cmp(b));
        if params.top_k > 0 && params.top_k < order.len() {
            order.select_nth_unstable_by(params.top_k - 1, by_logit_desc);
            order.truncate(params.top_k);
        }
        order.sort_by(by_logit_desc);
        let probs: Vec<f64> = order.iter().map(|&i| (logprob(i) as f64).exp()).collect();
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

fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best
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
}
