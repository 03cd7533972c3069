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
//! Both compute in f32 whatever the storage dtype, as the forward kernels do.

use candle_core::{DType, Tensor};
use rayon::prelude::*;

use crate::error::Result;
use crate::manual_grad::{Backward, attach};

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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{D, Device, Var};

    fn random(shape: &[usize], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        let mut state = seed | 1;
        let data: Vec<f32> = (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect();
        Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    }

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
