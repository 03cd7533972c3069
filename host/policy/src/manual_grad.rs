//! Outputs computed without an autograd graph, joined to their inputs with
//! a backward pass written by hand.
//!
//! candle records every op of a training forward and, in `backward`, gives
//! each recorded tensor a zero-filled gradient that it then adds into. For a
//! composite like attention that is a dozen full-size temporaries (the score
//! gradient alone is `rows × L²`) and as many passes over memory. Where the
//! backward is known in closed form it is cheaper to run the forward on
//! detached tensors (no graph) and let a single node carry the whole
//! backward: [`attach3`] makes a tensor that holds the precomputed output
//! and, in `backward`, asks a closure for the inputs' gradients.
//!
//! The node's forward copies the precomputed output, which is cheap for the
//! sizes it is used on (an attention output, not its scores). It runs on the
//! CPU only; other devices keep the composed, differentiable ops.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Storage, Tensor};

/// The inputs' gradients, given the output's gradient.
pub type Backward3 = dyn Fn(&Tensor) -> candle_core::Result<[Option<Tensor>; 3]> + Send + Sync;

/// `output` (computed from `a`, `b`, `c` without a graph) as a tensor whose
/// gradient flows back to `a`, `b` and `c` through `backward`.
pub fn attach3(
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    output: Tensor,
    backward: Box<Backward3>,
) -> candle_core::Result<Tensor> {
    a.apply_op3_arc(
        b,
        c,
        std::sync::Arc::new(Box::new(Attached { output, backward })),
    )
}

struct Attached {
    output: Tensor,
    backward: Box<Backward3>,
}

impl CustomOp3 for Attached {
    fn name(&self) -> &'static str {
        "manual-backward"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (storage, layout) = self.output.storage_and_layout();
        let Storage::Cpu(storage) = &*storage else {
            candle_core::bail!("manual-backward: the output is not on the CPU");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("manual-backward: the output must be contiguous");
        };
        let copy = match storage {
            CpuStorage::F32(x) => CpuStorage::F32(x[start..end].to_vec()),
            CpuStorage::BF16(x) => CpuStorage::BF16(x[start..end].to_vec()),
            CpuStorage::F16(x) => CpuStorage::F16(x[start..end].to_vec()),
            CpuStorage::F64(x) => CpuStorage::F64(x[start..end].to_vec()),
            _ => candle_core::bail!("manual-backward: unsupported dtype"),
        };
        Ok((copy, layout.shape().clone()))
    }

    fn bwd(
        &self,
        _: &Tensor,
        _: &Tensor,
        _: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let [a, b, c] = (self.backward)(grad)?;
        Ok((a, b, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn the_hand_written_backward_is_what_backward_returns() {
        let dev = Device::Cpu;
        let a = Var::new(&[1f32, 2.0], &dev).unwrap();
        let b = Var::new(&[3f32, 4.0], &dev).unwrap();
        let c = Var::new(&[5f32, 6.0], &dev).unwrap();
        // out = a · b + c, computed without a graph.
        let out = ((a.detach() * b.detach()).unwrap() + c.detach()).unwrap();
        let (ad, bd) = (a.detach(), b.detach());
        let backward: Box<Backward3> =
            Box::new(move |g: &Tensor| Ok([Some((g * &bd)?), Some((g * &ad)?), Some(g.clone())]));
        let y = attach3(a.as_tensor(), b.as_tensor(), c.as_tensor(), out, backward).unwrap();
        assert_eq!(y.to_vec1::<f32>().unwrap(), vec![8.0, 14.0]);
        let loss = (y * Tensor::new(&[1f32, 10.0], &dev).unwrap())
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        let get = |v: &Var| grads.get(v).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(get(&a), vec![3.0, 40.0]);
        assert_eq!(get(&b), vec![1.0, 20.0]);
        assert_eq!(get(&c), vec![1.0, 10.0]);
    }
}
