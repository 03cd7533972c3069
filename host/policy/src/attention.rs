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
//! - **one fused mask + scale + softmax** ([`MaskedSoftmax`]), in place on the
//!   CPU at inference, and as a differentiable op (its own backward) when
//!   training. Masked keys carry −∞: they cost no `exp`, weigh exactly 0, and a
//!   query that sees no key at all (a left pad) gets all-zero weights rather
//!   than NaN;
//! - **query blocks**: at inference the queries are processed in blocks so
//!   that one block's scores hold at most [`DEFAULT_SCORE_BUDGET`] elements
//!   (small enough that the allocator recycles the buffer between layers
//!   instead of mapping a new one each time).
//!
//! Other devices (CUDA) run the composed ops with a finite mask, so that the
//! same code path works everywhere.

use candle_core::{CpuStorage, CustomOp2, D, DType, InplaceOp2, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::error::Result;
use crate::model::Pass;

/// The most score elements (`B × heads × query block × keys`) one attention
/// block materialises at inference: 4 Mi elements, 16 MiB in f32.
pub const DEFAULT_SCORE_BUDGET: usize = 1 << 22;

/// What a masked key becomes on devices without the fused kernel: finite, so
/// that a query with no visible key still yields finite numbers.
const FINITE_MASKED: f64 = -1e9;

/// Rows of scores per parallel task: enough work to amortise the hand-off.
const MIN_ELEMENTS_PER_TASK: usize = 1 << 14;

/// Attention of `q` `(B, H, L, hd)` over `k`, `v` `(B, kv_heads, T, hd)` under
/// the additive f32 `mask` `(B, 1, L, T)` (0 or −∞). Returns `(B, H, L, hd)`.
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
    let per_query = b * h * t;
    let block = (score_budget / per_query.max(1)).max(1);
    if pass == Pass::Train || block >= l {
        return attend_block(q, k, v, mask, pass);
    }
    let mut parts = Vec::with_capacity(l.div_ceil(block));
    let mut start = 0;
    while start < l {
        let len = block.min(l - start);
        let qb = q.narrow(2, start, len)?;
        let mb = mask.narrow(2, start, len)?;
        parts.push(attend_block(&qb, k, v, &mb, pass)?);
        start += len;
    }
    let out = Tensor::cat(&parts, 2)?;
    debug_assert_eq!(out.dims(), &[b, h, l, hd]);
    Ok(out)
}

/// One block of queries; see [`attend`].
fn attend_block(q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor, pass: Pass) -> Result<Tensor> {
    let (b, h, l, hd) = q.dims4()?;
    let kv_heads = k.dim(1)?;
    let groups = h / kv_heads;
    // Heads h = kv·G + g are adjacent, so (B, H, L) regroups as (B, kv, G·L).
    let q = q.contiguous()?.reshape((b, kv_heads, groups * l, hd))?;
    let scale = 1.0 / (hd as f64).sqrt();
    let scores = q.matmul(&k.t()?)?;
    let probs = masked_softmax(scores, mask, scale, pass == Pass::Train)?;
    let ctx = probs.matmul(v)?;
    Ok(ctx.reshape((b, h, l, hd))?)
}

/// `softmax(scores · scale + mask)` over the last axis, for `scores`
/// `(B, kv_heads, G·L, T)` and `mask` `(B, 1, L, T)` (each mask row serves
/// the `G` query heads of its query).
pub fn masked_softmax(scores: Tensor, mask: &Tensor, scale: f64, grad: bool) -> Result<Tensor> {
    let op = MaskedSoftmax { scale };
    if scores.device().is_cpu() && mask.dtype() == DType::F32 {
        if grad {
            return Ok(scores.contiguous()?.apply_op2(mask, op)?);
        }
        let scores = scores.contiguous()?;
        scores.inplace_op2(mask, &op)?;
        return Ok(scores);
    }
    composed_masked_softmax(&scores, mask, scale, grad)
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

/// The fused CPU kernel of [`masked_softmax`]; its backward is
/// `scale · p ⊙ (g − Σ g ⊙ p)`.
#[derive(Debug, Clone, Copy)]
pub struct MaskedSoftmax {
    pub scale: f64,
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

/// Softmax of `x · scale + mask` in place over one row, in f32.
fn softmax_row(x: &mut [f32], mask: &[f32], scale: f32) {
    let mut max = f32::NEG_INFINITY;
    for (v, &m) in x.iter_mut().zip(mask) {
        *v = *v * scale + m;
        max = max.max(*v);
    }
    if max == f32::NEG_INFINITY {
        x.fill(0.0);
        return;
    }
    let mut sum = 0f32;
    for (v, &m) in x.iter_mut().zip(mask) {
        // exp(−∞) would be 0 as well; skipping it avoids the slow path.
        *v = if m == f32::NEG_INFINITY {
            0.0
        } else {
            (*v - max).exp()
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
    let per_task = (MIN_ELEMENTS_PER_TASK / t).max(1);
    scores
        .par_chunks_mut(t)
        .with_min_len(per_task)
        .enumerate()
        .for_each(|(row, values)| softmax_row(values, &mask[index.row(row)..][..t], scale));
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

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let contiguous = Layout::contiguous(l1.shape());
        let mut out = match l1.contiguous_offsets() {
            Some((a, b)) => slice_storage(s1, a, b)?,
            None => candle_core::bail!("masked-softmax: scores must be contiguous"),
        };
        self.run(&mut out, &contiguous, s2, l2)?;
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        _scores: &Tensor,
        _mask: &Tensor,
        probs: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let dot = (grad * probs)?.sum_keepdim(D::Minus1)?;
        let g = ((grad.broadcast_sub(&dot)? * probs)? * self.scale)?;
        Ok((Some(g), None))
    }
}

/// A copy of `storage[a..b]`.
fn slice_storage(storage: &CpuStorage, a: usize, b: usize) -> candle_core::Result<CpuStorage> {
    Ok(match storage {
        CpuStorage::F32(x) => CpuStorage::F32(x[a..b].to_vec()),
        CpuStorage::BF16(x) => CpuStorage::BF16(x[a..b].to_vec()),
        CpuStorage::F16(x) => CpuStorage::F16(x[a..b].to_vec()),
        _ => candle_core::bail!("masked-softmax: unsupported dtype"),
    })
}
