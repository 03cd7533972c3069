//! Scaled dot-product attention that touches each score once.
//!
//! The textbook composition `softmax(q kᵀ · scale + mask) v` materialises
//! four tensors of `rows × heads × L_q × L_k` per layer (the scores, the
//! scaled scores, the masked scores and the probabilities). At prefill sizes
//! each is tens to hundreds of MiB, so every layer maps, faults in and unmaps
//! fresh memory. This module keeps one:
//!
//! - **grouped queries instead of repeated keys**: with grouped-query
//!   attention, the `G = heads / kv_heads` query heads that share a key head
//!   are stacked along the query axis (`(B, kv_heads, G·L_q, head_dim)`), so
//!   keys and values are used as they are cached, never copied `G` times;
//! - **one fused mask + scale + softmax**, in place and
//!   vectorised (AVX2 when the CPU has it, with a branch-free `exp`). Masked
//!   keys carry −∞: they cost no `exp`, weigh exactly 0, and a query that sees
//!   no key at all (a left pad) gets all-zero weights rather than NaN;
//! - **causal query blocks** at inference: the queries are processed in
//!   blocks, each over only the keys its last query may see (so a long
//!   prefill skips nearly half of the masked work), and small enough that one
//!   block's scores hold at most [`DEFAULT_SCORE_BUDGET`] elements (the
//!   allocator then recycles the buffer between layers);
//! - **a backward written by hand** for training: the forward runs without an
//!   autograd graph and one node returns `dq`, `dk`, `dv` in closed form
//!   ([`crate::manual_grad`]), instead of candle zero-filling and adding a
//!   gradient for each of the score-sized intermediates.
//!
//! Other devices (CUDA) run the composed ops with a finite mask, so that the
//! same code path works everywhere.

use candle_core::{CpuStorage, D, DType, InplaceOp2, Layout, Tensor, WithDType};
use rayon::prelude::*;

use crate::cpu_matmul::matmul;
use crate::error::Result;
use crate::manual_grad::{Backward, attach};
use crate::model::Pass;
use crate::vector_math::{avx2_dispatch, exp_nonpositive};

/// The most score elements (`B × heads × query block × keys`) one attention
/// block materialises at inference: 4 Mi elements, 16 MiB in f32.
pub const DEFAULT_SCORE_BUDGET: usize = 1 << 22;

/// What a masked key becomes on devices without the fused kernel: finite, so
/// that a query with no visible key still yields finite numbers.
const FINITE_MASKED: f64 = -1e9;

/// Rows of scores per parallel task: enough work to amortise the hand-off.
const MIN_ELEMENTS_PER_TASK: usize = 1 << 14;

/// Inference splits at least this many queries into [`CAUSAL_BLOCKS`] blocks.
const MIN_CAUSAL_SPLIT: usize = 64;

/// Blocks a long causal prefill is split into (see [`query_block`]).
const CAUSAL_BLOCKS: usize = 4;

/// Attention of `q` `(B, H, L, hd)` over `k`, `v` `(B, kv_heads, T, hd)` under
/// the additive f32 `mask` `(B, 1, L, T)` (0 or −∞). The `L` queries are the
/// last `L` of the `T` positions and attention is causal: query `i` sees no
/// key after `T − L + i` (the mask may hide more, never less). Returns the
/// heads side by side, `(B, L, H·hd)`, ready for the output projection.
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Tensor,
    pass: Pass,
    score_budget: usize,
) -> Result<Tensor> {
    let (b, h, l, hd) = q.dims4()?;
    let t = k.dim(2)?;
    let block = query_block(l, b * h * t, score_budget);
    if pass == Pass::Train || block >= l {
        return attend_block(q, k, v, mask, pass);
    }
    // Keys after a block's last query are masked for all of its queries, so
    // each block attends over a causal prefix of the keys only: with n blocks
    // the matmuls and the softmax do ~(n + 1) / 2n of the full work.
    let past = t.saturating_sub(l);
    let mut parts = Vec::with_capacity(l.div_ceil(block));
    let mut start = 0;
    while start < l {
        let len = block.min(l - start);
        let keys = (past + start + len).min(t);
        let qb = q.narrow(2, start, len)?;
        let mb = mask.narrow(2, start, len)?.narrow(3, 0, keys)?;
        let kb = k.narrow(2, 0, keys)?;
        let vb = v.narrow(2, 0, keys)?;
        parts.push(attend_block(&qb, &kb, &vb, &mb, pass)?);
        start += len;
    }
    let out = Tensor::cat(&parts, 1)?;
    debug_assert_eq!(out.dims(), &[b, l, h * hd]);
    Ok(out)
}

/// Queries per inference block: as many as keep one block's scores
/// (`per_query` each) within `score_budget`, and at most a quarter of the
/// queries once there are enough of them that skipping the masked keys of
/// later positions pays for the extra, smaller matmuls.
fn query_block(queries: usize, per_query: usize, score_budget: usize) -> usize {
    let budgeted = (score_budget / per_query.max(1)).max(1);
    let causal = if queries >= MIN_CAUSAL_SPLIT {
        queries.div_ceil(CAUSAL_BLOCKS)
    } else {
        queries
    };
    budgeted.min(causal)
}

/// One block of queries; see [`attend`].
fn attend_block(q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor, pass: Pass) -> Result<Tensor> {
    let (b, h, l, hd) = q.dims4()?;
    let kv_heads = k.dim(1)?;
    let groups = h / kv_heads;
    // Heads h = kv·G + g are adjacent, so (B, H, L) regroups as (B, kv, G·L).
    let q = q.contiguous()?.reshape((b, kv_heads, groups * l, hd))?;
    let scale = 1.0 / (hd as f64).sqrt();
    let fused = q.device().is_cpu() && mask.dtype() == DType::F32;
    let ctx = match (pass, fused) {
        (Pass::Train, true) => attend_with_manual_backward(&q, k, v, mask, scale, groups)?,
        (Pass::Inference, true) => {
            let scores = matmul(&q, &k.t()?)?;
            scores.inplace_op2(mask, &MaskedSoftmax { scale })?;
            matmul(&scores, v)?
        }
        (pass, false) => {
            let scores = q.matmul(&k.t()?)?;
            composed_masked_softmax(&scores, mask, scale, pass == Pass::Train)?.matmul(v)?
        }
    };
    let ctx = ctx.reshape((b, h, l, hd))?;
    Ok(ctx.transpose(1, 2)?.reshape((b, l, h * hd))?)
}

/// Training attention on the CPU: the forward runs without a graph (the
/// in-place softmax of inference) and one node carries the closed-form
/// backward, for `q` `(B, kv, G·L, hd)` (see [`crate::manual_grad`]):
/// with `P = softmax(scale · q kᵀ + mask)` and output gradient `dO`,
/// `dv = Pᵀ dO`, `dS = scale · P ⊙ (dO vᵀ − rowsum(P ⊙ dO vᵀ))`,
/// `dq = dS k`, `dk = dSᵀ q`. Only `P` is kept for the backward, as the
/// autograd graph kept it before. Queries go in causal blocks as at
/// inference, each over the keys its last query may see, which skips nearly
/// half of the work on a long sequence (there is no graph, so the blocks
/// cost no extra autograd nodes).
fn attend_with_manual_backward(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Tensor,
    scale: f64,
    groups: usize,
) -> Result<Tensor> {
    let (b, kv, rows, hd) = q.dims4()?;
    let (l, t) = (rows / groups, k.dim(2)?);
    let blocks = causal_blocks(l, t);
    let (qd, kd, vd) = (q.detach(), k.detach(), v.detach());
    let per_group = qd.reshape((b, kv, groups, l, hd))?;
    let mut saved = Vec::with_capacity(blocks.len());
    let mut outs = Vec::with_capacity(blocks.len());
    for block in &blocks {
        let qb = block.rows(&per_group)?;
        let kb = kd.narrow(2, 0, block.keys)?;
        let mb = mask
            .narrow(2, block.start, block.len)?
            .narrow(3, 0, block.keys)?;
        let probs = matmul(&qb, &kb.t()?)?;
        probs.inplace_op2(&mb, &MaskedSoftmax { scale })?;
        let out = matmul(&probs, &vd.narrow(2, 0, block.keys)?)?;
        outs.push(out.reshape((b, kv, groups, block.len, hd))?);
        saved.push((qb, probs));
    }
    let out = Tensor::cat(&outs, 3)?.reshape((b, kv, rows, hd))?;
    let backward: Box<Backward> = Box::new(move |grad: &Tensor| {
        let grad = grad.contiguous()?.reshape((b, kv, groups, l, hd))?;
        let mut dq = Vec::with_capacity(blocks.len());
        let mut dk = Tensor::zeros(kd.shape(), kd.dtype(), kd.device())?;
        let mut dv = dk.clone();
        for (block, (qb, probs)) in blocks.iter().zip(&saved) {
            let gb = block.rows(&grad)?;
            let (kb, vb) = (kd.narrow(2, 0, block.keys)?, vd.narrow(2, 0, block.keys)?);
            let pad = t - block.keys;
            dv = (dv + matmul(&probs.t()?, &gb)?.pad_with_zeros(2, 0, pad)?)?;
            let ds = matmul(&gb, &vb.t()?)?;
            ds.inplace_op2(probs, &SoftmaxBackward { scale })?;
            dq.push(matmul(&ds, &kb)?.reshape((b, kv, groups, block.len, hd))?);
            dk = (dk + matmul(&ds.t()?, qb)?.pad_with_zeros(2, 0, pad)?)?;
        }
        let dq = Tensor::cat(&dq, 3)?.reshape((b, kv, rows, hd))?;
        Ok(vec![Some(dq), Some(dk), Some(dv)])
    });
    Ok(attach(&[q, k, v], out, backward)?)
}

/// A causal block of queries: `len` queries from `start`, seeing the first
/// `keys` keys.
#[derive(Debug, Clone, Copy)]
struct CausalBlock {
    start: usize,
    len: usize,
    keys: usize,
}

impl CausalBlock {
    /// This block's rows of `(B, kv, G, L, hd)`, as `(B, kv, G·len, hd)`.
    fn rows(&self, per_group: &Tensor) -> candle_core::Result<Tensor> {
        let (b, kv, g, _, hd) = per_group.dims5()?;
        per_group
            .narrow(3, self.start, self.len)?
            .contiguous()?
            .reshape((b, kv, g * self.len, hd))
    }
}

/// The (query, key) pairs the causal blocks of a training pass score, for
/// `queries` queries that are the last of `keys` keys: what the CPU keeps
/// per row and head for the backward (the memory plan counts it).
pub fn causal_score_elements(queries: usize, keys: usize) -> usize {
    causal_blocks(queries, keys)
        .iter()
        .map(|b| b.len * b.keys)
        .sum()
}

/// The causal blocks of `queries` queries that are the last of `keys` keys.
fn causal_blocks(queries: usize, keys: usize) -> Vec<CausalBlock> {
    let block = query_block(queries, 1, usize::MAX);
    let past = keys.saturating_sub(queries);
    (0..queries)
        .step_by(block.max(1))
        .map(|start| {
            let len = block.min(queries - start);
            CausalBlock {
                start,
                len,
                keys: (past + start + len).min(keys),
            }
        })
        .collect()
}

/// The same maths from stock ops (any device, differentiable).
fn composed_masked_softmax(
    scores: &Tensor,
    mask: &Tensor,
    scale: f64,
    grad: bool,
) -> Result<Tensor> {
    let (b, kv, rows, t) = scores.dims4()?;
    let l = mask.dim(2)?;
    let groups = rows / l.max(1);
    let mask = mask
        .clamp(FINITE_MASKED, 0.0)?
        .to_dtype(scores.dtype())?
        .unsqueeze(2)?;
    let x = (scores.reshape((b, kv, groups, l, t))? * scale)?.broadcast_add(&mask)?;
    let p = if grad {
        candle_nn::ops::softmax(&x, D::Minus1)?
    } else {
        candle_nn::ops::softmax_last_dim(&x)?
    };
    Ok(p.reshape((b, kv, rows, t))?)
}

/// `softmax(scores · scale + mask)` in place over the last axis, for
/// `scores` `(B, kv_heads, G·L, T)` and the f32 `mask` `(B, 1, L, T)` (each
/// mask row serves the `G` query heads of its query): the fused CPU kernel.
#[derive(Debug, Clone, Copy)]
struct MaskedSoftmax {
    scale: f64,
}

/// The softmax's backward in place on the probabilities' gradient `g`,
/// given the probabilities `p`: `g ← scale · p ⊙ (g − Σ g ⊙ p)` per row.
#[derive(Debug, Clone, Copy)]
struct SoftmaxBackward {
    scale: f64,
}

/// Where a score row's mask row starts, given the mask's layout.
struct MaskIndex {
    start: usize,
    batch_stride: usize,
    query_stride: usize,
    queries: usize,
    rows_per_batch: usize,
    rows_per_head: usize,
}

impl MaskIndex {
    fn new(scores: &Layout, mask: &Layout) -> candle_core::Result<Self> {
        let sd = scores.dims();
        let md = mask.dims();
        let ms = mask.stride();
        if sd.len() != 4 || md.len() != 4 || md[0] != sd[0] || md[3] != sd[3] || ms[3] != 1 {
            candle_core::bail!("masked-softmax: scores {sd:?} and mask {md:?} do not match");
        }
        if md[2] == 0 || !sd[2].is_multiple_of(md[2]) {
            candle_core::bail!("masked-softmax: {} score rows for {} queries", sd[2], md[2]);
        }
        Ok(MaskIndex {
            start: mask.start_offset(),
            batch_stride: ms[0],
            query_stride: ms[2],
            queries: md[2],
            rows_per_batch: sd[1] * sd[2],
            rows_per_head: sd[2],
        })
    }

    fn row(&self, row: usize) -> usize {
        let b = row / self.rows_per_batch;
        let query = (row % self.rows_per_head) % self.queries;
        self.start + b * self.batch_stride + query * self.query_stride
    }
}

avx2_dispatch! {
    /// Softmax of `x · scale + mask` in place over one row, in f32.
    fn softmax_row(x: &mut [f32], mask: &[f32], scale: f32) = softmax_row_portable;
}

/// Lanes of the row reductions: independent accumulators let the compiler
/// vectorise a max and a sum that it may not reorder itself.
const LANES: usize = 16;

#[inline(always)]
fn softmax_row_portable(x: &mut [f32], mask: &[f32], scale: f32) {
    let mask = &mask[..x.len()];
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = x.chunks_exact_mut(LANES);
    let mut mask_chunks = mask.chunks_exact(LANES);
    for (c, m) in (&mut chunks).zip(&mut mask_chunks) {
        for i in 0..LANES {
            c[i] = c[i] * scale + m[i];
            lanes[i] = lanes[i].max(c[i]);
        }
    }
    let mut max = lanes.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    for (v, &m) in chunks
        .into_remainder()
        .iter_mut()
        .zip(mask_chunks.remainder())
    {
        *v = *v * scale + m;
        max = max.max(*v);
    }
    if max == f32::NEG_INFINITY {
        x.fill(0.0);
        return;
    }
    let mut sums = [0f32; LANES];
    let mut chunks = x.chunks_exact_mut(LANES);
    let mut mask_chunks = mask.chunks_exact(LANES);
    for (c, m) in (&mut chunks).zip(&mut mask_chunks) {
        for i in 0..LANES {
            // A masked key weighs exactly 0, whatever the exp approximation.
            c[i] = if m[i] == f32::NEG_INFINITY {
                0.0
            } else {
                exp_nonpositive(c[i] - max)
            };
            sums[i] += c[i];
        }
    }
    let mut sum: f32 = sums.iter().sum();
    for (v, &m) in chunks
        .into_remainder()
        .iter_mut()
        .zip(mask_chunks.remainder())
    {
        *v = if m == f32::NEG_INFINITY {
            0.0
        } else {
            exp_nonpositive(*v - max)
        };
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// Runs [`softmax_row`] over every row of `scores` (contiguous), converting
/// half-precision rows through an f32 scratch row.
fn softmax_rows<T: WithDType>(
    scores: &mut [T],
    t: usize,
    mask: &[f32],
    index: &MaskIndex,
    scale: f32,
) {
    if t == 0 {
        return;
    }
    let per_task = (MIN_ELEMENTS_PER_TASK / t).max(1);
    scores
        .par_chunks_mut(t)
        .with_min_len(per_task)
        .enumerate()
        .for_each_init(
            || vec![0f32; t],
            |scratch, (row, values)| {
                let m = &mask[index.row(row)..][..t];
                for (s, v) in scratch.iter_mut().zip(values.iter()) {
                    *s = v.to_f64() as f32;
                }
                softmax_row(scratch, m, scale);
                for (v, s) in values.iter_mut().zip(scratch.iter()) {
                    *v = T::from_f64(*s as f64);
                }
            },
        );
}

fn softmax_rows_f32(scores: &mut [f32], t: usize, mask: &[f32], index: &MaskIndex, scale: f32) {
    if t == 0 {
        return;
    }
    let row = |(row, values): (usize, &mut [f32])| {
        softmax_row(values, &mask[index.row(row)..][..t], scale)
    };
    if scores.len() < 2 * MIN_ELEMENTS_PER_TASK {
        // A decode step's few rows: handing them to the pool costs more.
        scores.chunks_mut(t).enumerate().for_each(row);
        return;
    }
    let per_task = (MIN_ELEMENTS_PER_TASK / t).max(1);
    scores
        .par_chunks_mut(t)
        .with_min_len(per_task)
        .enumerate()
        .for_each(row);
}

impl MaskedSoftmax {
    fn run(
        &self,
        s: &mut CpuStorage,
        sl: &Layout,
        m: &CpuStorage,
        ml: &Layout,
    ) -> candle_core::Result<()> {
        if !sl.is_contiguous() {
            candle_core::bail!("masked-softmax: scores must be contiguous");
        }
        let CpuStorage::F32(mask) = m else {
            candle_core::bail!("masked-softmax: the mask must be f32");
        };
        let index = MaskIndex::new(sl, ml)?;
        let t = sl.dims()[3];
        let range = sl.start_offset()..sl.start_offset() + sl.shape().elem_count();
        let scale = self.scale as f32;
        match s {
            CpuStorage::F32(x) => softmax_rows_f32(&mut x[range], t, mask, &index, scale),
            CpuStorage::BF16(x) => softmax_rows(&mut x[range], t, mask, &index, scale),
            CpuStorage::F16(x) => softmax_rows(&mut x[range], t, mask, &index, scale),
            _ => candle_core::bail!("masked-softmax: unsupported dtype"),
        }
        Ok(())
    }
}

impl InplaceOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        self.run(s1, l1, s2, l2)
    }
}

/// [`SoftmaxBackward`] over one row, in f32.
#[inline(always)]
fn softmax_backward_row(g: &mut [f32], p: &[f32], scale: f32) {
    let p = &p[..g.len()];
    let mut lanes = [0f32; LANES];
    let mut g_chunks = g.chunks_exact(LANES);
    let mut p_chunks = p.chunks_exact(LANES);
    for (gc, pc) in (&mut g_chunks).zip(&mut p_chunks) {
        for i in 0..LANES {
            lanes[i] += gc[i] * pc[i];
        }
    }
    let mut dot: f32 = lanes.iter().sum();
    for (a, b) in g_chunks.remainder().iter().zip(p_chunks.remainder()) {
        dot += a * b;
    }
    for (a, &b) in g.iter_mut().zip(p) {
        *a = scale * b * (*a - dot);
    }
}

avx2_dispatch! {
    fn softmax_backward_row_dispatch(g: &mut [f32], p: &[f32], scale: f32) = softmax_backward_row;
}

/// Runs [`softmax_backward_row`] over rows of `t`, converting half-precision
/// rows through f32 scratch rows.
fn softmax_backward_rows<T: WithDType>(g: &mut [T], p: &[T], t: usize, scale: f32) {
    let per_task = (MIN_ELEMENTS_PER_TASK / t).max(1);
    g.par_chunks_mut(t)
        .zip(p.par_chunks(t))
        .with_min_len(per_task)
        .for_each_init(
            || (vec![0f32; t], vec![0f32; t]),
            |(gs, ps), (gr, pr)| {
                for ((a, b), (x, y)) in gs.iter_mut().zip(ps.iter_mut()).zip(gr.iter().zip(pr)) {
                    *a = x.to_f64() as f32;
                    *b = y.to_f64() as f32;
                }
                softmax_backward_row_dispatch(gs, ps, scale);
                for (x, a) in gr.iter_mut().zip(gs.iter()) {
                    *x = T::from_f64(*a as f64);
                }
            },
        );
}

fn softmax_backward_rows_f32(g: &mut [f32], p: &[f32], t: usize, scale: f32) {
    let per_task = (MIN_ELEMENTS_PER_TASK / t).max(1);
    g.par_chunks_mut(t)
        .zip(p.par_chunks(t))
        .with_min_len(per_task)
        .for_each(|(gr, pr)| softmax_backward_row_dispatch(gr, pr, scale));
}

impl InplaceOp2 for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "softmax-backward"
    }

    fn cpu_fwd(
        &self,
        g: &mut CpuStorage,
        gl: &Layout,
        p: &CpuStorage,
        pl: &Layout,
    ) -> candle_core::Result<()> {
        let (Some((g0, g1)), Some((p0, p1))) = (gl.contiguous_offsets(), pl.contiguous_offsets())
        else {
            candle_core::bail!("softmax-backward: both operands must be contiguous");
        };
        if gl.dims() != pl.dims() {
            candle_core::bail!(
                "softmax-backward: {:?} and {:?} differ",
                gl.dims(),
                pl.dims()
            );
        }
        let t = gl.dims().last().copied().unwrap_or(0);
        if t == 0 {
            return Ok(());
        }
        let scale = self.scale as f32;
        match (g, p) {
            (CpuStorage::F32(g), CpuStorage::F32(p)) => {
                softmax_backward_rows_f32(&mut g[g0..g1], &p[p0..p1], t, scale)
            }
            (CpuStorage::BF16(g), CpuStorage::BF16(p)) => {
                softmax_backward_rows(&mut g[g0..g1], &p[p0..p1], t, scale)
            }
            (CpuStorage::F16(g), CpuStorage::F16(p)) => {
                softmax_backward_rows(&mut g[g0..g1], &p[p0..p1], t, scale)
            }
            _ => candle_core::bail!("softmax-backward: unsupported or mixed dtypes"),
        }
        Ok(())
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::{max_diff, random};

    fn reference_softmax(x: &[f32], mask: &[f32], scale: f32) -> Vec<f32> {
        let y: Vec<f64> = x
            .iter()
            .zip(mask)
            .map(|(&v, &m)| (v * scale + m) as f64)
            .collect();
        let max = y.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        if max == f64::NEG_INFINITY {
            return vec![0.0; x.len()];
        }
        let e: Vec<f64> = y.iter().map(|v| (v - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|v| (v / sum) as f32).collect()
    }

    #[test]
    fn softmax_rows_match_a_float64_reference_at_every_length() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        for len in [1usize, 2, 15, 16, 17, 33, 100, 257] {
            let x: Vec<f32> = (0..len).map(|_| next() * 40.0 - 20.0).collect();
            // Every third key masked; the last row hides all of them.
            let mask: Vec<f32> = (0..len)
                .map(|i| if i % 3 == 1 { f32::NEG_INFINITY } else { 0.0 })
                .collect();
            let mut ours = x.clone();
            softmax_row(&mut ours, &mask, 0.25);
            for (i, (a, b)) in ours
                .iter()
                .zip(reference_softmax(&x, &mask, 0.25))
                .enumerate()
            {
                assert!((a - b).abs() <= 1e-6, "len {len} key {i}: {a} vs {b}");
                if mask[i] == f32::NEG_INFINITY {
                    assert_eq!(*a, 0.0);
                }
            }
            let mut hidden = x.clone();
            softmax_row(&mut hidden, &vec![f32::NEG_INFINITY; len], 0.25);
            assert!(hidden.iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn the_manual_backward_equals_autograd_through_the_composed_ops() {
        use candle_core::Var;
        // 2 rows, 4 query heads over 2 key heads, 70 new queries (several
        // causal blocks) after 2 cached keys; row 1 has a padded first key.
        let (b, h, kv, l, t, hd) = (2, 4, 2, 70, 72, 8);
        assert!(
            causal_blocks(l, t).len() > 1,
            "the test must cover several blocks"
        );
        let q = Var::from_tensor(&random(&[b, h, l, hd], 1)).unwrap();
        let k = Var::from_tensor(&random(&[b, kv, t, hd], 2)).unwrap();
        let v = Var::from_tensor(&random(&[b, kv, t, hd], 3)).unwrap();
        let mut mask = vec![0f32; b * l * t];
        for row in 0..b {
            for i in 0..l {
                for j in 0..t {
                    if j > t - l + i || (row == 1 && j == 0) {
                        mask[(row * l + i) * t + j] = f32::NEG_INFINITY;
                    }
                }
            }
        }
        let mask = Tensor::from_vec(mask, (b, 1, l, t), &candle_core::Device::Cpu).unwrap();
        let weights = random(&[b, l, h * hd], 4);
        let grads_of = |out: Tensor| {
            let loss = (out * &weights).unwrap().sum_all().unwrap();
            let g = loss.backward().unwrap();
            [&q, &k, &v].map(|x| g.get(x).unwrap().clone())
        };
        let fused = attend(&q, &k, &v, &mask, Pass::Train, DEFAULT_SCORE_BUDGET).unwrap();
        let fused_grads = grads_of(fused.clone());
        // The reference: stock differentiable ops, mask as a finite −1e9.
        let qg = q.reshape((b, kv, h / kv * l, hd)).unwrap();
        let scale = 1.0 / (hd as f64).sqrt();
        let scores = qg.matmul(&k.t().unwrap()).unwrap();
        let reference = composed_masked_softmax(&scores, &mask, scale, true)
            .unwrap()
            .matmul(&v)
            .unwrap()
            .reshape((b, h, l, hd))
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .reshape((b, l, h * hd))
            .unwrap();
        let diff = max_diff;
        assert!(
            diff(&fused, &reference) < 1e-5,
            "outputs: {}",
            diff(&fused, &reference)
        );
        for (name, (a, r)) in ["q", "k", "v"]
            .iter()
            .zip(fused_grads.iter().zip(grads_of(reference)))
        {
            let d = diff(a, &r);
            assert!(d < 1e-5, "d{name}: {d}");
            assert!(
                r.abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
                    > 1e-2
            );
        }
    }

    #[test]
    fn causal_blocks_split_long_prefills_and_respect_the_budget() {
        assert_eq!(query_block(1, 100, 1 << 22), 1);
        assert_eq!(query_block(63, 100, 1 << 22), 63);
        assert_eq!(query_block(256, 100, 1 << 22), 64);
        assert_eq!(query_block(256, 1 << 20, 1 << 22), 4);
        assert_eq!(query_block(256, 1 << 30, 1 << 22), 1);
        // Blocks tile the queries; each sees the keys up to its last query.
        let blocks = causal_blocks(70, 72);
        assert_eq!(blocks.iter().map(|b| b.len).sum::<usize>(), 70);
        assert!(
            blocks
                .windows(2)
                .all(|w| w[0].start + w[0].len == w[1].start)
        );
        assert!(blocks.iter().all(|b| b.keys == 2 + b.start + b.len));
        assert_eq!(causal_blocks(5, 5).len(), 1);
        assert_eq!(causal_score_elements(256, 256), 256 * 256 * 10 / 16);
        assert_eq!(causal_score_elements(5, 5), 25);
    }
}
