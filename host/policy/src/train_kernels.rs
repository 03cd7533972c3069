//! RMSNorm and RoPE for the training forward on the CPU: candle's fused
//! inference kernels compute the forward, and the backward is written by
//! hand ([`crate::manual_grad`]).
//!
//! Composed from differentiable ops, one RMSNorm is six tensor ops and one
//! RoPE eight, each allocating its output and, in the backward, a zeroed
//! gradient to add into. A decoder layer runs four norms and two rotations,
//! so on a small model these dominated the training forward. Here each is one
//! forward op and one backward op:
//! - RMSNorm, `y = x̂ ⊙ w` with `x̂ = x · r` and `r = (mean(x²) + ε)^-½` per
//!   row: `dx = r · (dy ⊙ w − x̂ · mean(dy ⊙ w ⊙ x̂))`, `dw = Σ_rows dy ⊙ x̂`;
//! - RoPE is a rotation per pair of channels, so its backward is the inverse
//!   rotation: RoPE of the gradient with `−sin`.
//!
//! - the response tokens' log-probabilities and entropies under
//!   `softmax(logits · s)` (`s` = 1 / temperature), one pass per row each way
//!   instead of a log-softmax, a gather and an entropy over the whole
//!   `tokens × vocabulary` logits: with `p = softmax(z)`, `z = logits · s`,
//!   `d logits = s · (g_lp · (onehot − p) − g_H · p ⊙ (log p + H))`.
//!
//! - a dense layer `y = x Wᵀ + b`: `dx = dy W`, `dW = dyᵀ x`, `db = Σ dy`,
//!   each computed only when its input takes a gradient (autograd would also
//!   compute `dW` for a frozen base weight under LoRA).
//!
//! The norms and log-probs compute in f32 whatever the storage dtype, as the
//! forward kernels do.

use candle_core::{DType, Tensor};
use rayon::prelude::*;

use crate::PolicyError;
use crate::cpu_matmul::matmul;
use crate::error::Result;
use crate::manual_grad::{Backward, attach};
use crate::vector_math::{avx2_dispatch, exp_nonpositive};

/// Rows per deterministic partial sum of the weight gradient.
const ROWS_PER_PARTIAL: usize = 64;

/// RMSNorm of `x` (`(…, D)`) with weight `w` (`(D)`), differentiable in both.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let x = x.contiguous()?;
    let y = candle_nn::ops::rms_norm(&x.detach(), &w.detach(), eps as f32)?;
    let (xd, wd) = (x.detach(), w.detach());
    let backward: Box<Backward> = Box::new(move |grad: &Tensor| {
        let (dx, dw) = rms_norm_backward(&xd, &wd, grad, eps as f32)?;
        Ok(vec![Some(dx), Some(dw)])
    });
    Ok(attach(&[&x, w], y, backward)?)
}

fn f32_values(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()
}

/// `(dx, dw)` of RMSNorm for the output gradient `dy`.
fn rms_norm_backward(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    eps: f32,
) -> candle_core::Result<(Tensor, Tensor)> {
    let d = w.elem_count();
    let (xs, ws, dys) = (f32_values(x)?, f32_values(w)?, f32_values(dy)?);
    let mut dx = vec![0f32; xs.len()];
    // Partial weight gradients over fixed row chunks, summed in order, so the
    // result does not depend on how rayon schedules the chunks.
    let chunk = ROWS_PER_PARTIAL * d;
    let partials: Vec<Vec<f32>> = dx
        .par_chunks_mut(chunk)
        .zip(xs.par_chunks(chunk))
        .zip(dys.par_chunks(chunk))
        .map(|((dx, x), dy)| {
            let mut dw = vec![0f32; d];
            for ((dx, x), dy) in dx.chunks_mut(d).zip(x.chunks(d)).zip(dy.chunks(d)) {
                rms_norm_backward_row(dx, &mut dw, x, dy, &ws, eps);
            }
            dw
        })
        .collect();
    let mut dw = vec![0f32; d];
    for partial in partials {
        for (a, b) in dw.iter_mut().zip(partial) {
            *a += b;
        }
    }
    let dx = Tensor::from_vec(dx, x.shape(), x.device())?.to_dtype(x.dtype())?;
    let dw = Tensor::from_vec(dw, w.shape(), w.device())?.to_dtype(w.dtype())?;
    Ok((dx, dw))
}

/// One row of [`rms_norm_backward`]: writes `dx`, adds into `dw`.
fn rms_norm_backward_row(
    dx: &mut [f32],
    dw: &mut [f32],
    x: &[f32],
    dy: &[f32],
    w: &[f32],
    eps: f32,
) {
    let n = x.len() as f32;
    let mean_square = x.iter().map(|v| v * v).sum::<f32>() / n;
    let r = 1.0 / (mean_square + eps).sqrt();
    let dot = x
        .iter()
        .zip(dy)
        .zip(w)
        .map(|((x, dy), w)| dy * w * x)
        .sum::<f32>()
        * r
        / n;
    for i in 0..x.len() {
        dx[i] = r * (dy[i] * w[i] - x[i] * r * dot);
        dw[i] += dy[i] * x[i] * r;
    }
}

/// RoPE of `x` (`(B, H, L, hd)`) with per-row tables `cos`, `sin`
/// (`(B, L, hd / 2)`), differentiable in `x`.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let x = x.contiguous()?;
    let y = candle_nn::rotary_emb::rope(&x.detach(), cos, sin)?;
    let (cos, neg_sin) = (cos.detach(), sin.neg()?.detach());
    let backward: Box<Backward> = Box::new(move |grad: &Tensor| {
        let dx = candle_nn::rotary_emb::rope(&grad.contiguous()?, &cos, &neg_sin)?;
        Ok(vec![Some(dx)])
    });
    Ok(attach(&[&x], y, backward)?)
}

/// `x Wᵀ (+ b)` for `x` `(rows, in)`, `w` `(out, in)`, `bias` `(out)`.
pub fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (xd, wd) = (x.detach(), w.detach());
    let mut y = matmul(&xd, &wd.t()?)?;
    if let Some(b) = bias {
        y = y.broadcast_add(&b.detach())?;
    }
    let wants = [
        x.track_op(),
        w.track_op(),
        bias.is_some_and(Tensor::track_op),
    ];
    let has_bias = bias.is_some();
    let backward: Box<Backward> = Box::new(move |grad: &Tensor| {
        let dx = if wants[0] {
            Some(matmul(grad, &wd)?)
        } else {
            None
        };
        let dw = if wants[1] {
            Some(matmul(&grad.t()?, &xd)?)
        } else {
            None
        };
        let mut grads = vec![dx, dw];
        if has_bias {
            grads.push(if wants[2] { Some(grad.sum(0)?) } else { None });
        }
        Ok(grads)
    });
    Ok(match bias {
        Some(b) => attach(&[x, w, b], y, backward)?,
        None => attach(&[x, w], y, backward)?,
    })
}

/// Rows of logits per parallel task.
const LOGIT_ROWS_PER_TASK: usize = 4;

/// `(log p(target), entropy)` per row of `logits` (`(N, V)`, f32) under
/// `softmax(logits · scale)`, differentiable in `logits`; each `(N)`.
pub fn token_logprobs(logits: &Tensor, targets: &[u32], scale: f32) -> Result<(Tensor, Tensor)> {
    let (n, vocab) = logits.dims2()?;
    if targets.len() != n || targets.iter().any(|&t| t as usize >= vocab) {
        return Err(PolicyError::Compute(format!(
            "token log-probs: {} targets for {n} rows of {vocab} logits",
            targets.len()
        )));
    }
    let logits = logits.to_dtype(DType::F32)?.contiguous()?;
    let z: Vec<f32> = logits.flatten_all()?.to_vec1()?;
    let mut stats = vec![RowStats::default(); n];
    z.par_chunks(vocab)
        .zip(stats.par_iter_mut())
        .zip(targets.par_iter())
        .with_min_len(LOGIT_ROWS_PER_TASK)
        .for_each(|((row, stat), &t)| *stat = row_stats(row, t as usize, scale));
    let out: Vec<f32> = stats.iter().flat_map(|s| [s.logprob, s.entropy]).collect();
    let out = Tensor::from_vec(out, (n, 2), logits.device())?;
    let targets = targets.to_vec();
    let device = logits.device().clone();
    let backward: Box<Backward> = Box::new(move |grad: &Tensor| {
        let g: Vec<f32> = grad.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let mut d = vec![0f32; n * vocab];
        d.par_chunks_mut(vocab)
            .zip(z.par_chunks(vocab))
            .zip(stats.par_iter().zip(targets.par_iter()))
            .zip(g.par_chunks(2))
            .with_min_len(LOGIT_ROWS_PER_TASK)
            .for_each(|(((d, row), (stat, &t)), g)| {
                row_gradient(d, row, t as usize, scale, stat, g[0], g[1])
            });
        Ok(vec![Some(Tensor::from_vec(d, (n, vocab), &device)?)])
    });
    let out = attach(&[&logits], out, backward)?;
    Ok((
        out.narrow(1, 0, 1)?.squeeze(1)?,
        out.narrow(1, 1, 1)?.squeeze(1)?,
    ))
}

/// What the forward learns about one row and the backward reuses.
#[derive(Debug, Clone, Copy, Default)]
struct RowStats {
    /// `logsumexp(z)`.
    log_norm: f32,
    logprob: f32,
    entropy: f32,
}

avx2_dispatch! {
    fn row_stats(row: &[f32], target: usize, scale: f32) -> RowStats = row_stats_portable;
}

/// Lanes of the row reductions (independent accumulators vectorise).
const LANES: usize = 16;

#[inline(always)]
fn row_stats_portable(row: &[f32], target: usize, scale: f32) -> RowStats {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            lanes[i] = lanes[i].max(c[i] * scale);
        }
    }
    let max = tail.iter().fold(
        lanes.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)),
        |a, &b| a.max(b * scale),
    );
    // Σ e^(z − max) and Σ e^(z − max) · (z − max).
    let (mut sum, mut weighted) = ([0f32; LANES], [0f32; LANES]);
    let chunks = row.chunks_exact(LANES);
    for c in chunks {
        for i in 0..LANES {
            let shifted = c[i] * scale - max;
            let e = exp_nonpositive(shifted);
            sum[i] += e;
            weighted[i] += e * shifted;
        }
    }
    let (mut sum, mut weighted): (f32, f32) = (sum.iter().sum(), weighted.iter().sum());
    for &v in tail {
        let shifted = v * scale - max;
        let e = exp_nonpositive(shifted);
        sum += e;
        weighted += e * shifted;
    }
    let log_sum = sum.ln();
    RowStats {
        log_norm: max + log_sum,
        logprob: row[target] * scale - max - log_sum,
        // H = log Σ e^(z−max) − Σ p (z − max).
        entropy: log_sum - weighted / sum,
    }
}

/// One row of the backward of [`token_logprobs`], written into `d`.
fn row_gradient(
    d: &mut [f32],
    row: &[f32],
    target: usize,
    scale: f32,
    stats: &RowStats,
    g_logprob: f32,
    g_entropy: f32,
) {
    row_gradient_vectorised(d, row, scale, stats, g_logprob, g_entropy);
    d[target] += scale * g_logprob;
}

avx2_dispatch! {
    fn row_gradient_vectorised(
        d: &mut [f32],
        row: &[f32],
        scale: f32,
        stats: &RowStats,
        g_logprob: f32,
        g_entropy: f32,
    ) = row_gradient_portable;
}

/// `d = s · (−g_lp · p − g_H · p ⊙ (log p + H))`; the target's `+ s · g_lp`
/// is added by the caller.
#[inline(always)]
fn row_gradient_portable(
    d: &mut [f32],
    row: &[f32],
    scale: f32,
    stats: &RowStats,
    g_logprob: f32,
    g_entropy: f32,
) {
    for (d, &v) in d.iter_mut().zip(row) {
        let log_p = v * scale - stats.log_norm;
        let p = exp_nonpositive(log_p);
        *d = -scale * p * (g_logprob + g_entropy * (log_p + stats.entropy));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::{max_diff, random};
    use candle_core::{D, Device, Var};

    /// Gradients of `Σ f(x, w) ⊙ weights` for both inputs.
    fn grads(
        f: impl Fn(&Tensor, &Tensor) -> Tensor,
        x: &Var,
        w: &Var,
        weights: &Tensor,
    ) -> (Tensor, Tensor, Tensor) {
        let y = f(x.as_tensor(), w.as_tensor());
        let g = (&y * weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        (y, g.get(x).unwrap().clone(), g.get(w).unwrap().clone())
    }

    #[test]
    fn rms_norm_equals_the_composed_ops_with_gradients() {
        // 150 rows: more than one partial chunk, and a ragged last one.
        let x = Var::from_tensor(&(random(&[3, 50, 16], 1) * 3.0).unwrap()).unwrap();
        let w = Var::from_tensor(&random(&[16], 2)).unwrap();
        let weights = random(&[3, 50, 16], 3);
        let eps = 1e-6;
        let composed = |x: &Tensor, w: &Tensor| {
            let ms = x.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
            x.broadcast_div(&(ms + eps).unwrap().sqrt().unwrap())
                .unwrap()
                .broadcast_mul(w)
                .unwrap()
        };
        let (y0, dx0, dw0) = grads(composed, &x, &w, &weights);
        let (y1, dx1, dw1) = grads(|x, w| rms_norm(x, w, eps).unwrap(), &x, &w, &weights);
        assert!(max_diff(&y0, &y1) < 1e-5, "y {}", max_diff(&y0, &y1));
        assert!(max_diff(&dx0, &dx1) < 1e-4, "dx {}", max_diff(&dx0, &dx1));
        assert!(max_diff(&dw0, &dw1) < 1e-3, "dw {}", max_diff(&dw0, &dw1));
    }

    #[test]
    fn token_logprobs_and_entropies_equal_the_composed_ops_with_gradients() {
        // 37 logits per row: a ragged tail after two 16-lane chunks.
        let logits = Var::from_tensor(&(random(&[6, 37], 7) * 4.0).unwrap()).unwrap();
        let targets = [0u32, 5, 36, 17, 17, 2];
        let (g_lp, g_h) = (random(&[6], 8), random(&[6], 9));
        let scale = 1.0 / 0.7;
        let run = |lp: Tensor, h: Tensor| {
            let loss = ((&lp * &g_lp).unwrap().sum_all().unwrap()
                + (&h * &g_h).unwrap().sum_all().unwrap())
            .unwrap();
            let g = loss.backward().unwrap();
            (lp, h, g.get(&logits).unwrap().clone())
        };
        let composed = {
            let z = (logits.as_tensor() * scale as f64).unwrap();
            let log_p = candle_nn::ops::log_softmax(&z, D::Minus1).unwrap();
            let t = Tensor::new(&targets, &Device::Cpu)
                .unwrap()
                .unsqueeze(1)
                .unwrap();
            let lp = log_p.gather(&t, 1).unwrap().squeeze(1).unwrap();
            let h = (log_p.exp().unwrap() * &log_p)
                .unwrap()
                .sum(D::Minus1)
                .unwrap()
                .neg()
                .unwrap();
            run(lp, h)
        };
        let (lp, h) = token_logprobs(logits.as_tensor(), &targets, scale).unwrap();
        let fused = run(lp, h);
        assert!(
            max_diff(&composed.0, &fused.0) < 1e-5,
            "lp {}",
            max_diff(&composed.0, &fused.0)
        );
        assert!(
            max_diff(&composed.1, &fused.1) < 1e-5,
            "H {}",
            max_diff(&composed.1, &fused.1)
        );
        assert!(
            max_diff(&composed.2, &fused.2) < 1e-5,
            "d {}",
            max_diff(&composed.2, &fused.2)
        );
        assert!(token_logprobs(logits.as_tensor(), &[0, 1], scale).is_err());
        assert!(token_logprobs(logits.as_tensor(), &[0, 1, 2, 3, 4, 37], scale).is_err());
    }

    #[test]
    fn linear_equals_matmul_with_gradients_and_skips_frozen_ones() {
        let x = Var::from_tensor(&random(&[7, 5], 10)).unwrap();
        let w = Var::from_tensor(&random(&[3, 5], 11)).unwrap();
        let b = Var::from_tensor(&random(&[3], 12)).unwrap();
        let weights = random(&[7, 3], 13);
        let run = |y: Tensor| {
            let g = (&y * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let get = |v: &Var| g.get(v).unwrap().clone();
            (y, get(&x), get(&w), get(&b))
        };
        let composed = run(x
            .matmul(&w.t().unwrap())
            .unwrap()
            .broadcast_add(&b)
            .unwrap());
        let fused = run(linear(&x, &w, Some(&b)).unwrap());
        for (name, a, f) in [
            ("y", &composed.0, &fused.0),
            ("dx", &composed.1, &fused.1),
            ("dw", &composed.2, &fused.2),
            ("db", &composed.3, &fused.3),
        ] {
            assert!(max_diff(a, f) < 1e-5, "{name}: {}", max_diff(a, f));
        }
        // A frozen weight gets no gradient at all.
        let frozen = w.as_tensor().detach();
        let y = linear(&x, &frozen, None).unwrap();
        let g = (&y * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(g.get(&x).is_some() && g.get(&frozen).is_none());
    }

    #[test]
    fn rope_backward_is_the_inverse_rotation() {
        let (b, h, l, hd) = (2, 3, 5, 8);
        let x = Var::from_tensor(&random(&[b, h, l, hd], 4)).unwrap();
        let angles = random(&[b, l, hd / 2], 5);
        let (cos, sin) = (angles.cos().unwrap(), angles.sin().unwrap());
        let weights = random(&[b, h, l, hd], 6);
        // The composed rotation: (x1, x2) → (x1 cos − x2 sin, x2 cos + x1 sin).
        let composed = |x: &Tensor| {
            let c = Tensor::cat(&[&cos, &cos], D::Minus1)
                .unwrap()
                .unsqueeze(1)
                .unwrap();
            let s = Tensor::cat(&[&sin, &sin], D::Minus1)
                .unwrap()
                .unsqueeze(1)
                .unwrap();
            let x1 = x.narrow(D::Minus1, 0, hd / 2).unwrap();
            let x2 = x.narrow(D::Minus1, hd / 2, hd / 2).unwrap();
            let rotated = Tensor::cat(&[&x2.neg().unwrap(), &x1], D::Minus1).unwrap();
            (x.broadcast_mul(&c).unwrap() + rotated.broadcast_mul(&s).unwrap()).unwrap()
        };
        let grad_of = |y: Tensor| {
            let g = (&y * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            (y, g.get(&x).unwrap().clone())
        };
        let (y0, dx0) = grad_of(composed(x.as_tensor()));
        let (y1, dx1) = grad_of(rope(x.as_tensor(), &cos, &sin).unwrap());
        assert!(max_diff(&y0, &y1) < 1e-6);
        assert!(max_diff(&dx0, &dx1) < 1e-6, "dx {}", max_diff(&dx0, &dx1));
        assert!(
            dx1.abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 0.1
        );
    }
}
