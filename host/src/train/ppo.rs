//! # PPO loss: the clipped surrogate LaMer optimises
//!
//! Every response token `t` of a row carries the log-probability it had when it
//! was sampled (`old`), its log-probability under the current weights (`new`,
//! with gradients) and the row's advantage `A`. With `r = exp(new − old)`:
//!
//! ```text
//! clipped   = max(−A·r, −A·clamp(r, 1−ε_low, 1+ε_high))      (PPO-clip)
//! per_token = A < 0 ? min(clipped, −A·c) : clipped            (dual-clip, c = 3)
//! loss      = Σ mask·per_token / N  −  β_ent · Σ mask·entropy / N  +  β_kl · Σ mask·k3 / N
//! ```
//!
//! `N` is the number of response tokens of the whole *mini-batch* (token-mean
//! aggregation), passed in by the caller: a mini-batch is split into
//! micro-batches for memory, and dividing every micro-batch's token sum by the
//! mini-batch's token count makes the accumulated gradient identical to the
//! gradient of one big batch, whatever the micro-batch size.
//!
//! The dual clip bounds how much a single token with a negative advantage can
//! push when its ratio explodes (the policy already made it far more likely
//! than the sampler did): its loss is capped at `−A·c`, so its gradient is 0.
//!
//! The optional KL term to a frozen reference uses the k3 ("low-variance")
//! estimator `exp(ref − new) − (ref − new) − 1`, clamped to ±10 as verl does;
//! LaMer trains with it off.

use candle_core::{D, DType, Tensor};
use serde::{Deserialize, Serialize};

/// The loss's hyper-parameters (verl's defaults, which LaMer keeps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpoConfig {
    /// Lower clip range: the ratio is clamped at `1 − clip_low`.
    pub clip_low: f64,
    /// Upper clip range: the ratio is clamped at `1 + clip_high`.
    pub clip_high: f64,
    /// Dual-clip constant `c` (> 1) for negative advantages.
    pub dual_clip: f64,
    /// Entropy bonus coefficient.
    pub entropy_coef: f64,
    /// KL-to-reference coefficient; 0 turns the term (and the reference) off.
    pub kl_coef: f64,
}

impl Default for PpoConfig {
    fn default() -> Self {
        PpoConfig {
            clip_low: 0.2,
            clip_high: 0.2,
            dual_clip: 3.0,
            entropy_coef: 0.001,
            kl_coef: 0.0,
        }
    }
}

/// Why the loss could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum PpoError {
    #[error("PPO loss: tensor `{name}` has shape {found:?} but the log-probs have {expected:?}")]
    Shape {
        name: &'static str,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("PPO loss: the token normaliser must be positive, got {0}")]
    Normaliser(f64),
    #[error("PPO loss: dual_clip must be greater than 1, got {0}")]
    DualClip(f64),
    #[error("PPO loss: tensor error: {0}")]
    Candle(#[from] candle_core::Error),
}

/// The tensors of one micro-batch, all `(rows, tokens)` and F32. Padding
/// positions have `mask = 0` and any finite value elsewhere.
#[derive(Debug, Clone, Copy)]
pub struct PpoBatch<'a> {
    /// Log-probs under the current weights (carries the gradient).
    pub logprobs: &'a Tensor,
    /// Sampling log-probs recorded by the rollout.
    pub old_logprobs: &'a Tensor,
    /// The row's advantage, broadcast to each of its tokens.
    pub advantages: &'a Tensor,
    /// 1 for response tokens, 0 for padding.
    pub mask: &'a Tensor,
    /// Per-token entropy of the current policy (carries the gradient), when
    /// the entropy bonus is on.
    pub entropy: Option<&'a Tensor>,
    /// Log-probs under the frozen reference, when the KL term is on.
    pub ref_logprobs: Option<&'a Tensor>,
}

/// The loss to back-propagate and the sums behind the logged metrics.
///
/// The sums are *masked sums over tokens* (not means) so that micro-batches
/// add up; divide by the mini-batch's token count to report means.
#[derive(Debug)]
pub struct PpoLoss {
    /// Scalar, differentiable: this micro-batch's share of the mini-batch loss.
    pub loss: Tensor,
    /// Σ mask · per-token policy-gradient loss.
    pub pg_loss_sum: f64,
    /// Σ mask · entropy (0 when no entropy was given).
    pub entropy_sum: f64,
    /// Σ mask · k3 KL to the reference (0 when off).
    pub kl_sum: f64,
    /// Σ mask · (old − new): the approximate KL to the sampler (`actor/ppo_kl`).
    pub approx_kl_sum: f64,
    /// Tokens where the ordinary clip was active (`actor/pg_clipfrac`).
    pub clipped_tokens: f64,
    /// Tokens where the dual clip was active (`actor/pg_clipfrac_lower`).
    pub dual_clipped_tokens: f64,
    /// Response tokens in this micro-batch.
    pub tokens: f64,
}

fn check_shape(name: &'static str, t: &Tensor, expected: &[usize]) -> Result<(), PpoError> {
    if t.dims() != expected {
        return Err(PpoError::Shape {
            name,
            expected: expected.to_vec(),
            found: t.dims().to_vec(),
        });
    }
    Ok(())
}

fn masked_sum(values: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    values.mul(mask)?.sum_all()
}

fn scalar(t: &Tensor) -> candle_core::Result<f64> {
    t.to_dtype(DType::F64)?.to_scalar::<f64>()
}

/// Computes the PPO loss of one micro-batch; `token_normaliser` is the number of
/// response tokens in the whole mini-batch.
pub fn ppo_loss(
    batch: PpoBatch<'_>,
    config: &PpoConfig,
    token_normaliser: f64,
) -> Result<PpoLoss, PpoError> {
    // NaN must fail too, hence no `<= 0.0` alone.
    if token_normaliser.is_nan() || token_normaliser <= 0.0 {
        return Err(PpoError::Normaliser(token_normaliser));
    }
    if config.dual_clip.is_nan() || config.dual_clip <= 1.0 {
        return Err(PpoError::DualClip(config.dual_clip));
    }
    let shape = batch.logprobs.dims().to_vec();
    check_shape("old_logprobs", batch.old_logprobs, &shape)?;
    check_shape("advantages", batch.advantages, &shape)?;
    check_shape("mask", batch.mask, &shape)?;
    if let Some(e) = batch.entropy {
        check_shape("entropy", e, &shape)?;
    }
    if let Some(r) = batch.ref_logprobs {
        check_shape("ref_logprobs", r, &shape)?;
    }

    let mask = batch.mask.to_dtype(DType::F32)?;
    let adv = batch.advantages.detach();
    let old = batch.old_logprobs.detach();
    let log_ratio = batch.logprobs.sub(&old)?;
    let ratio = log_ratio.exp()?;
    let neg_adv = adv.neg()?;

    let unclipped = neg_adv.mul(&ratio)?;
    let clamped = neg_adv.mul(&ratio.clamp(1.0 - config.clip_low, 1.0 + config.clip_high)?)?;
    let clipped = unclipped.maximum(&clamped)?;
    let dual_bound = neg_adv.affine(config.dual_clip, 0.0)?;
    let dual = clipped.minimum(&dual_bound)?;
    let negative = adv.lt(0.0f32)?;
    let per_token = negative.where_cond(&dual, &clipped)?;

    let inv_n = 1.0 / token_normaliser;
    let pg_sum = masked_sum(&per_token, &mask)?;
    let mut loss = pg_sum.affine(inv_n, 0.0)?;

    // Statistics: detached, masked sums.
    let clip_active = clamped.gt(&unclipped)?.to_dtype(DType::F32)?;
    let dual_active = clipped
        .gt(&dual_bound)?
        .to_dtype(DType::F32)?
        .mul(&negative.to_dtype(DType::F32)?)?;
    let approx_kl_sum = scalar(&masked_sum(&log_ratio.neg()?.detach(), &mask)?)?;

    let mut entropy_sum = 0.0;
    if let Some(entropy) = batch.entropy {
        let ent = masked_sum(entropy, &mask)?;
        entropy_sum = scalar(&ent)?;
        if config.entropy_coef != 0.0 {
            loss = loss.sub(&ent.affine(config.entropy_coef * inv_n, 0.0)?)?;
        }
    }
    let mut kl_sum = 0.0;
    if let Some(reference) = batch.ref_logprobs
        && config.kl_coef != 0.0
    {
        let diff = reference.detach().sub(batch.logprobs)?;
        let k3 = diff
            .exp()?
            .sub(&diff)?
            .affine(1.0, -1.0)?
            .clamp(-10.0, 10.0)?;
        let kl = masked_sum(&k3, &mask)?;
        kl_sum = scalar(&kl)?;
        loss = loss.add(&kl.affine(config.kl_coef * inv_n, 0.0)?)?;
    }

    Ok(PpoLoss {
        loss,
        pg_loss_sum: scalar(&pg_sum)?,
        entropy_sum,
        kl_sum,
        approx_kl_sum,
        clipped_tokens: scalar(&masked_sum(&clip_active, &mask)?)?,
        dual_clipped_tokens: scalar(&masked_sum(&dual_active, &mask)?)?,
        tokens: scalar(&mask.sum_all()?)?,
    })
}

/// Per-token entropy `−Σ p log p` over the vocabulary from logits `(.., V)`,
/// differentiable; for policies that hand back logits.
pub fn entropy_from_logits(logits: &Tensor) -> candle_core::Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    logp.exp()?.mul(&logp)?.sum(D::Minus1)?.neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn t(v: &[f32]) -> Tensor {
        Tensor::from_slice(v, (1, v.len()), &Device::Cpu).unwrap()
    }

    struct Case {
        new: Var,
        old: Tensor,
        adv: Tensor,
        mask: Tensor,
    }

    fn case(new: &[f32], old: &[f32], adv: &[f32], mask: &[f32]) -> Case {
        Case {
            new: Var::from_tensor(&t(new)).unwrap(),
            old: t(old),
            adv: t(adv),
            mask: t(mask),
        }
    }

    fn no_entropy() -> PpoConfig {
        PpoConfig {
            entropy_coef: 0.0,
            ..PpoConfig::default()
        }
    }

    fn run(c: &Case, config: &PpoConfig, n: f64) -> (PpoLoss, Vec<f32>) {
        let out = ppo_loss(
            PpoBatch {
                logprobs: c.new.as_tensor(),
                old_logprobs: &c.old,
                advantages: &c.adv,
                mask: &c.mask,
                entropy: None,
                ref_logprobs: None,
            },
            config,
            n,
        )
        .unwrap();
        let grads = out.loss.backward().unwrap();
        let g = grads
            .get(c.new.as_tensor())
            .map(|g| g.flatten_all().unwrap().to_vec1::<f32>().unwrap())
            .unwrap_or_else(|| vec![0.0; c.new.elem_count()]);
        (out, g)
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-5, "{a} != {b}");
    }

    #[test]
    fn unclipped_tokens_give_the_policy_gradient() {
        // ratio = 1 at every token: loss = −mean(A), dL/dnew_t = −A_t·r_t / N.
        let c = case(&[-1.0, -2.0], &[-1.0, -2.0], &[2.0, -1.0], &[1.0, 1.0]);
        let (out, g) = run(&c, &no_entropy(), 2.0);
        close(scalar(&out.loss).unwrap(), -(2.0 - 1.0) / 2.0);
        close(g[0] as f64, -2.0 / 2.0);
        close(g[1] as f64, 1.0 / 2.0);
        close(out.clipped_tokens, 0.0);
        close(out.dual_clipped_tokens, 0.0);
        close(out.tokens, 2.0);
    }

    #[test]
    fn hand_computed_ratios_in_range() {
        // r0 = e^0.1 ≈ 1.10517 (A = 1), r1 = e^−0.1 ≈ 0.904837 (A = −2): both inside [0.8, 1.2].
        let c = case(&[-0.9, -1.1], &[-1.0, -1.0], &[1.0, -2.0], &[1.0, 1.0]);
        let (out, g) = run(&c, &no_entropy(), 2.0);
        let r0 = 0.1f64.exp();
        let r1 = (-0.1f64).exp();
        close(scalar(&out.loss).unwrap(), (-r0 + 2.0 * r1) / 2.0);
        close(g[0] as f64, -r0 / 2.0);
        close(g[1] as f64, 2.0 * r1 / 2.0);
        close(out.approx_kl_sum, -0.1 + 0.1);
    }

    #[test]
    fn clip_stops_the_gradient_past_the_range() {
        // A > 0, r = e^0.5 > 1.2: loss uses −A·1.2, gradient 0.
        // A < 0, r = e^−0.5 < 0.8: loss uses −A·0.8, gradient 0.
        let c = case(&[-0.5, -1.5], &[-1.0, -1.0], &[1.0, -1.0], &[1.0, 1.0]);
        let (out, g) = run(&c, &no_entropy(), 2.0);
        close(scalar(&out.loss).unwrap(), (-1.2 + 0.8) / 2.0);
        assert_eq!(g, vec![0.0, 0.0]);
        close(out.clipped_tokens, 2.0);
        close(out.dual_clipped_tokens, 0.0);
    }

    #[test]
    fn clip_keeps_the_gradient_on_the_pessimistic_side() {
        // A > 0 with r = e^−0.5 < 0.8: min(r, clip) picks r itself, so the gradient flows.
        let c = case(&[-1.5], &[-1.0], &[1.0], &[1.0]);
        let (out, g) = run(&c, &no_entropy(), 1.0);
        let r = (-0.5f64).exp();
        close(scalar(&out.loss).unwrap(), -r);
        close(g[0] as f64, -r);
        close(out.clipped_tokens, 0.0);
    }

    #[test]
    fn dual_clip_caps_negative_advantages() {
        // A = −1, r = e^2 ≈ 7.39 > c = 3: loss = −A·c = 3, gradient 0.
        // A = −1, r = e^1 ≈ 2.718 < 3: ordinary branch, loss = −A·r, gradient r.
        let c = case(&[1.0, 0.0], &[-1.0, -1.0], &[-1.0, -1.0], &[1.0, 1.0]);
        let (out, g) = run(&c, &no_entropy(), 2.0);
        let e = 1.0f64.exp();
        close(scalar(&out.loss).unwrap(), (3.0 + e) / 2.0);
        close(g[0] as f64, 0.0);
        close(g[1] as f64, e / 2.0);
        close(out.dual_clipped_tokens, 1.0);
        close(out.clipped_tokens, 0.0);
    }

    #[test]
    fn dual_clip_ignores_positive_advantages() {
        // A = +1, r = e^2: the ordinary clip applies (−1.2), no dual clip.
        let c = case(&[1.0], &[-1.0], &[1.0], &[1.0]);
        let (out, g) = run(&c, &no_entropy(), 1.0);
        close(scalar(&out.loss).unwrap(), -1.2);
        close(g[0] as f64, 0.0);
        close(out.dual_clipped_tokens, 0.0);
        close(out.clipped_tokens, 1.0);
    }

    #[test]
    fn masked_tokens_contribute_nothing() {
        let c = case(&[-0.9, 5.0], &[-1.0, -7.0], &[1.0, 9.0], &[1.0, 0.0]);
        let (out, g) = run(&c, &no_entropy(), 1.0);
        let r0 = 0.1f64.exp();
        close(scalar(&out.loss).unwrap(), -r0);
        close(g[1] as f64, 0.0);
        close(out.tokens, 1.0);
    }

    #[test]
    fn normaliser_makes_micro_batches_add_up() {
        // Loss of [a, b] with N = 2 equals loss(a, N=2) + loss(b, N=2).
        let whole = case(&[-0.9, -1.1], &[-1.0, -1.0], &[1.0, -2.0], &[1.0, 1.0]);
        let left = case(&[-0.9], &[-1.0], &[1.0], &[1.0]);
        let right = case(&[-1.1], &[-1.0], &[-2.0], &[1.0]);
        let cfg = no_entropy();
        let (w, _) = run(&whole, &cfg, 2.0);
        let (l, _) = run(&left, &cfg, 2.0);
        let (r, _) = run(&right, &cfg, 2.0);
        close(
            scalar(&w.loss).unwrap(),
            scalar(&l.loss).unwrap() + scalar(&r.loss).unwrap(),
        );
    }

    #[test]
    fn entropy_bonus_lowers_the_loss_and_pushes_entropy_up() {
        let dev = Device::Cpu;
        let logits =
            Var::from_tensor(&Tensor::new(&[[[1.0f32, 0.0, -1.0]]], &dev).unwrap()).unwrap();
        let ent = entropy_from_logits(logits.as_tensor()).unwrap(); // (1, 1)
        let p: Vec<f64> = [1.0f64, 0.0, -1.0].iter().map(|x| x.exp()).collect();
        let z: f64 = p.iter().sum();
        let h: f64 = -p.iter().map(|x| (x / z) * (x / z).ln()).sum::<f64>();
        close(scalar(&ent.sum_all().unwrap()).unwrap(), h);

        let zeros = Tensor::zeros((1, 1), DType::F32, &dev).unwrap();
        let ones = Tensor::ones((1, 1), DType::F32, &dev).unwrap();
        let cfg = PpoConfig {
            entropy_coef: 0.5,
            ..PpoConfig::default()
        };
        let out = ppo_loss(
            PpoBatch {
                logprobs: &zeros,
                old_logprobs: &zeros,
                advantages: &zeros,
                mask: &ones,
                entropy: Some(&ent),
                ref_logprobs: None,
            },
            &cfg,
            1.0,
        )
        .unwrap();
        close(scalar(&out.loss).unwrap(), -0.5 * h);
        close(out.entropy_sum, h);
        // Descending the loss raises entropy: the gradient on the largest logit is positive.
        let grads = out.loss.backward().unwrap();
        let g = grads
            .get(logits.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(g[0] > 0.0 && g[2] < 0.0, "{g:?}");
    }

    #[test]
    fn k3_kl_matches_hand_computation() {
        // ref − new = 0.5: k3 = e^0.5 − 0.5 − 1; d/dnew = −e^0.5 + 1.
        let c = case(&[-1.0], &[-1.0], &[0.0], &[1.0]);
        let reference = t(&[-0.5]);
        let cfg = PpoConfig {
            entropy_coef: 0.0,
            kl_coef: 0.1,
            ..PpoConfig::default()
        };
        let out = ppo_loss(
            PpoBatch {
                logprobs: c.new.as_tensor(),
                old_logprobs: &c.old,
                advantages: &c.adv,
                mask: &c.mask,
                entropy: None,
                ref_logprobs: Some(&reference),
            },
            &cfg,
            1.0,
        )
        .unwrap();
        let k3 = 0.5f64.exp() - 0.5 - 1.0;
        close(out.kl_sum, k3);
        close(scalar(&out.loss).unwrap(), 0.1 * k3);
        let g = out.loss.backward().unwrap();
        let g = g
            .get(c.new.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        close(g[0] as f64, 0.1 * (1.0 - 0.5f64.exp()));
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let c = case(&[-1.0, -1.0], &[-1.0, -1.0], &[1.0, 1.0], &[1.0, 1.0]);
        let bad = t(&[1.0]);
        let err = ppo_loss(
            PpoBatch {
                logprobs: c.new.as_tensor(),
                old_logprobs: &c.old,
                advantages: &bad,
                mask: &c.mask,
                entropy: None,
                ref_logprobs: None,
            },
            &PpoConfig::default(),
            2.0,
        )
        .unwrap_err();
        assert!(err.to_string().contains("advantages"), "{err}");
    }
}
