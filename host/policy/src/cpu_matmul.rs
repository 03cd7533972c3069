//! Matrix products on the CPU for tensors that need no gradient.
//!
//! candle's CPU matmul zero-fills its output before `gemm` overwrites every
//! element (a tenth of a prefill's time went to that `memset`), and for a
//! batch of small products (attention: one per row and key head) it runs
//! them one after another, each split over the threads — a fork and join
//! per product. [`matmul`] calls the same `gemm` crate into uninitialised
//! memory and, when there are at least as many products as threads, gives
//! each thread whole products instead.
//!
//! It takes the same shapes as [`Tensor::matmul`] (`(…, m, k) × (…, k, n)`,
//! equal batch dimensions, any strides) for f32 on the CPU, and hands
//! anything else — other dtypes and devices, and tensors in an autograd
//! graph, whose backward candle must record — to [`Tensor::matmul`].

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

/// `a × b`, as [`Tensor::matmul`] computes it.
pub fn matmul(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let plain = a.device().is_cpu()
        && a.dtype() == DType::F32
        && b.dtype() == DType::F32
        && a.rank() >= 2
        && a.rank() == b.rank()
        && !a.track_op()
        && !b.track_op();
    if !plain {
        return a.matmul(b);
    }
    a.apply_op2_no_bwd(b, &CpuMatmul)
}

struct CpuMatmul;

/// Below this many multiply-adds a product runs on the calling thread.
const SERIAL_WORK: usize = 1 << 18;

/// The output pointer, shared by the threads that write disjoint products.
#[derive(Clone, Copy)]
struct Output(*mut f32);
// SAFETY: every product writes its own `m × n` block of the output.
unsafe impl Send for Output {}
unsafe impl Sync for Output {}

impl Output {
    /// The pointer `offset` elements in (a method, so that closures capture
    /// the whole `Send` wrapper rather than its raw-pointer field).
    ///
    /// # Safety
    ///
    /// `offset` must lie within the output's allocation.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: the caller keeps `offset` inside the allocation.
        unsafe { self.0.add(offset) }
    }
}

/// Where batch `index` starts in a tensor of `layout` (any batch strides).
fn batch_offset(layout: &Layout, index: usize) -> usize {
    let dims = layout.dims();
    let strides = layout.stride();
    let batch_rank = dims.len() - 2;
    let mut rest = index;
    let mut offset = layout.start_offset();
    for axis in (0..batch_rank).rev() {
        offset += (rest % dims[axis]) * strides[axis];
        rest /= dims[axis];
    }
    offset
}

impl CustomOp2 for CpuMatmul {
    fn name(&self) -> &'static str {
        "cpu-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(lhs), CpuStorage::F32(rhs)) = (s1, s2) else {
            candle_core::bail!("cpu-matmul: f32 operands only");
        };
        let (ld, rd) = (l1.dims(), l2.dims());
        let rank = ld.len();
        let (m, k, n) = (ld[rank - 2], ld[rank - 1], rd[rank - 1]);
        if rd[rank - 2] != k || ld[..rank - 2] != rd[..rank - 2] {
            candle_core::bail!("cpu-matmul: cannot multiply {ld:?} by {rd:?}");
        }
        let batches: usize = ld[..rank - 2].iter().product();
        let mut shape = ld.to_vec();
        shape[rank - 1] = n;
        if k == 0 {
            // An empty sum: gemm would not write the output at all.
            return Ok((
                CpuStorage::F32(vec![0.0; batches * m * n]),
                Shape::from(shape),
            ));
        }
        let (ls, rs) = (l1.stride(), l2.stride());
        let strides = [ls[rank - 1], ls[rank - 2], rs[rank - 1], rs[rank - 2]].map(|s| s as isize);
        let mut out: Vec<f32> = Vec::with_capacity(batches * m * n);
        let dst = Output(out.as_mut_ptr());
        let product = |index: usize, parallelism: Parallelism| {
            let (a, b) = (batch_offset(l1, index), batch_offset(l2, index));
            // SAFETY: the offsets and strides come from the operands' own
            // layouts, so gemm reads inside `lhs` and `rhs`; it writes exactly
            // block `index` of the output (read_dst = false: nothing is read
            // from it), which lies inside its capacity.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    dst.at(index * m * n),
                    1,
                    n as isize,
                    false,
                    lhs.as_ptr().add(a),
                    strides[0],
                    strides[1],
                    rhs.as_ptr().add(b),
                    strides[2],
                    strides[3],
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    parallelism,
                )
            }
        };
        let threads = rayon::current_num_threads();
        if batches * m * n * k < SERIAL_WORK {
            // A decode step's products: handing them to the pool costs more
            // (a futex wake and yields per call) than computing them here.
            (0..batches).for_each(|i| product(i, Parallelism::None));
        } else if batches >= threads && batches > 1 {
            (0..batches)
                .into_par_iter()
                .for_each(|i| product(i, Parallelism::None));
        } else {
            let parallelism = if threads > 1 {
                Parallelism::Rayon(threads)
            } else {
                Parallelism::None
            };
            (0..batches).for_each(|i| product(i, parallelism));
        }
        // SAFETY: the products above wrote all `batches · m · n` elements.
        unsafe { out.set_len(batches * m * n) };
        Ok((CpuStorage::F32(out), Shape::from(shape)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::{max_diff, random};
    use candle_core::{Device, Var};

    fn assert_same(a: &Tensor, b: &Tensor) {
        assert_eq!(a.dims(), b.dims());
        let d = max_diff(a, b);
        assert!(d < 1e-5, "max diff {d}");
    }

    #[test]
    fn equals_candle_for_plain_transposed_narrowed_and_batched_operands() {
        let a = random(&[3, 4, 6, 5], 1);
        let b = random(&[3, 4, 5, 7], 2);
        assert_same(&matmul(&a, &b).unwrap(), &a.matmul(&b).unwrap());
        // Strided: a transposed rhs, a narrowed (non-contiguous) batch.
        let bt = random(&[3, 4, 7, 5], 3).t().unwrap();
        assert_same(&matmul(&a, &bt).unwrap(), &a.matmul(&bt).unwrap());
        let wide = random(&[3, 4, 9, 5], 4);
        let narrowed = wide.narrow(2, 2, 6).unwrap();
        assert_same(
            &matmul(&narrowed, &b).unwrap(),
            &narrowed.matmul(&b).unwrap(),
        );
        // One product (threads split it), two-dimensional operands.
        let (x, y) = (random(&[70, 33], 5), random(&[33, 41], 6));
        assert_same(&matmul(&x, &y).unwrap(), &x.matmul(&y).unwrap());
        // An empty inner dimension gives zeros.
        let (e, f) = (random(&[2, 3, 0], 10), random(&[2, 0, 4], 11));
        assert_same(
            &matmul(&e, &f).unwrap(),
            &Tensor::zeros((2, 3, 4), DType::F32, &Device::Cpu).unwrap(),
        );
        // A mismatch is an error, not a wrong answer.
        assert!(matmul(&x, &random(&[32, 41], 7)).is_err());
    }

    #[test]
    fn graph_tensors_keep_their_backward() {
        let a = Var::from_tensor(&random(&[4, 3], 8)).unwrap();
        let b = random(&[3, 2], 9);
        let y = matmul(&a, &b).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        assert!(g.get(&a).is_some());
    }
}
