//! The MLP's gate, `silu(gate) ⊙ up`, as one CPU kernel.
//!
//! candle computes it as two ops (`silu`, then a product), each a pass over
//! the `tokens × intermediate` activations with one scalar libm `exp` per
//! element; in training each also records a node whose backward zero-fills
//! and adds a gradient. Here it is one vectorised pass: in place on `gate`
//! at inference, and with a hand-written backward ([`crate::manual_grad`])
//! when training, with `s = σ(gate)`:
//! `d gate = g ⊙ up ⊙ s ⊙ (1 + gate ⊙ (1 − s))`, `d up = g ⊙ gate ⊙ s`.
//! Other devices, dtypes other than f32, and non-contiguous inputs use
//! candle's ops.

use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Tensor};
use rayon::prelude::*;

use crate::error::Result;
use crate::manual_grad::{Backward, attach};
use crate::vector_math::{avx2_dispatch, exp_nonpositive};

/// Elements per parallel task.
const PER_TASK: usize = 1 << 14;

/// `silu(gate) ⊙ up` for tensors of one shape.
pub fn gated_silu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    let fused = gate.device().is_cpu()
        && gate.dtype() == DType::F32
        && up.dtype() == DType::F32
        && gate.is_contiguous()
        && up.is_contiguous()
        && gate.dims() == up.dims();
    if !fused {
        return Ok((gate.silu()? * up)?);
    }
    if !gate.track_op() && !up.track_op() {
        // `gate` is this layer's own fresh projection: overwrite it.
        gate.inplace_op2(up, &GatedSilu)?;
        return Ok(gate.clone());
    }
    let (g, u): (Vec<f32>, Vec<f32>) =
        (gate.flatten_all()?.to_vec1()?, up.flatten_all()?.to_vec1()?);
    let mut out = g.clone();
    forward_in_place(&mut out, &u);
    let out = Tensor::from_vec(out, gate.shape(), gate.device())?;
    let (shape, device) = (gate.shape().clone(), gate.device().clone());
    let backward: Box<Backward> = Box::new(move |grad: &Tensor| {
        let grad: Vec<f32> = grad.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let (mut d_gate, mut d_up) = (vec![0f32; g.len()], vec![0f32; g.len()]);
        d_gate
            .par_chunks_mut(PER_TASK)
            .zip(d_up.par_chunks_mut(PER_TASK))
            .zip(g.par_chunks(PER_TASK).zip(u.par_chunks(PER_TASK)))
            .zip(grad.par_chunks(PER_TASK))
            .for_each(|(((dg, du), (g, u)), grad)| backward_chunk(dg, du, g, u, grad));
        Ok(vec![
            Some(Tensor::from_vec(d_gate, shape.clone(), &device)?),
            Some(Tensor::from_vec(d_up, shape.clone(), &device)?),
        ])
    });
    Ok(attach(&[gate, up], out, backward)?)
}

/// `σ(x)`, branch-free: `exp` only ever sees `−|x|`.
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    let e = exp_nonpositive(-x.abs());
    let inv = 1.0 / (1.0 + e);
    if x >= 0.0 { inv } else { e * inv }
}

#[inline(always)]
fn forward_chunk(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g * sigmoid(*g) * u;
    }
}

avx2_dispatch! {
    fn forward_chunk_dispatch(gate: &mut [f32], up: &[f32]) = forward_chunk;
}

fn forward_in_place(gate: &mut [f32], up: &[f32]) {
    if gate.len() <= PER_TASK {
        // One task: run it here rather than hand it to the pool.
        return forward_chunk_dispatch(gate, up);
    }
    gate.par_chunks_mut(PER_TASK)
        .zip(up.par_chunks(PER_TASK))
        .for_each(|(g, u)| forward_chunk_dispatch(g, u));
}

#[inline(always)]
fn backward_chunk(d_gate: &mut [f32], d_up: &mut [f32], gate: &[f32], up: &[f32], grad: &[f32]) {
    for i in 0..gate.len() {
        let (x, s) = (gate[i], sigmoid(gate[i]));
        d_gate[i] = grad[i] * up[i] * s * (1.0 + x * (1.0 - s));
        d_up[i] = grad[i] * x * s;
    }
}

struct GatedSilu;

impl InplaceOp2 for GatedSilu {
    fn name(&self) -> &'static str {
        "gated-silu"
    }

    fn cpu_fwd(
        &self,
        gate: &mut CpuStorage,
        gl: &Layout,
        up: &CpuStorage,
        ul: &Layout,
    ) -> candle_core::Result<()> {
        let (Some((g0, g1)), Some((u0, u1))) = (gl.contiguous_offsets(), ul.contiguous_offsets())
        else {
            candle_core::bail!("gated-silu: both operands must be contiguous");
        };
        match (gate, up) {
            (CpuStorage::F32(g), CpuStorage::F32(u)) if g1 - g0 == u1 - u0 => {
                forward_in_place(&mut g[g0..g1], &u[u0..u1]);
                Ok(())
            }
            _ => candle_core::bail!("gated-silu: two f32 operands of one size"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::max_diff;

    fn random(n: usize, seed: u64, spread: f32) -> Tensor {
        (crate::test_values::random(&[n / 10, 10], seed) * spread as f64).unwrap()
    }
    use candle_core::Var;

    #[test]
    fn inference_and_training_equal_candles_silu_times_up() {
        // Large and small gates, both signs (σ's two branches).
        let gate = random(40_000, 1, 30.0);
        let up = random(40_000, 2, 2.0);
        let reference = (gate.silu().unwrap() * &up).unwrap();
        let inplace = gated_silu(&gate.copy().unwrap(), &up).unwrap();
        assert!(
            max_diff(&reference, &inplace) < 1e-5,
            "{}",
            max_diff(&reference, &inplace)
        );

        let (g, u) = (
            Var::from_tensor(&gate).unwrap(),
            Var::from_tensor(&up).unwrap(),
        );
        let weights = random(40_000, 3, 1.0);
        let grads = |y: Tensor| {
            let grads = (&y * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            (
                y,
                grads.get(&g).unwrap().clone(),
                grads.get(&u).unwrap().clone(),
            )
        };
        let (y0, dg0, du0) = grads((g.silu().unwrap() * u.as_tensor()).unwrap());
        let (y1, dg1, du1) = grads(gated_silu(&g, &u).unwrap());
        assert!(max_diff(&y0, &y1) < 1e-5);
        assert!(
            max_diff(&dg0, &dg1) < 1e-5,
            "d gate {}",
            max_diff(&dg0, &dg1)
        );
        assert!(max_diff(&du0, &du1) < 1e-5, "d up {}", max_diff(&du0, &du1));
    }
}
