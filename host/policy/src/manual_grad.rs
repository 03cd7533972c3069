//! Outputs computed without an autograd graph, joined to their inputs with
//! a backward pass written by hand.
//!
//! candle records every op of a training forward and, in `backward`, gives
//! each recorded tensor a zero-filled gradient that it then adds into. For a
//! composite like attention that is a dozen full-size temporaries (the score
//! gradient alone is `rows × L²`) and as many passes over memory. Where the
//! backward is known in closed form it is cheaper to run the forward on
//! detached tensors (no graph) and let a single node carry the whole
//! backward: [`attach`] makes a tensor that holds the precomputed output
//! and, in `backward`, asks a closure for the inputs' gradients.
//!
//! The node's forward copies the precomputed output, which is cheap for the
//! sizes it is used on (an attention output, not its scores). It runs on the
//! CPU only; other devices keep the composed, differentiable ops.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Storage, Tensor};

/// The inputs' gradients (one per input, in order), given the output's.
pub type Backward = dyn Fn(&Tensor) -> candle_core::Result<Vec<Option<Tensor>>> + Send + Sync;

/// `output` (computed from `inputs` without a graph) as a tensor whose
/// gradient flows back to the one to three `inputs` through `backward`.
pub fn attach(
    inputs: &[&Tensor],
    output: Tensor,
    backward: Box<Backward>,
) -> candle_core::Result<Tensor> {
    let node = Attached { output, backward };
    match inputs {
        [a] => a.apply_op1_arc(std::sync::Arc::new(Box::new(node))),
        [a, b] => a.apply_op2_arc(b, std::sync::Arc::new(Box::new(node))),
        [a, b, c] => a.apply_op3_arc(b, c, std::sync::Arc::new(Box::new(node))),
        _ => candle_core::bail!("manual-backward: 1 to 3 inputs, not {}", inputs.len()),
    }
}

/// A copy of the elements of `t`, a contiguous CPU tensor, as a custom op's
/// `cpu_fwd` returns them (for ops whose result was computed beforehand).
pub(crate) fn cpu_copy(t: &Tensor) -> candle_core::Result<(CpuStorage, Shape)> {
    let (storage, layout) = t.storage_and_layout();
    let (Storage::Cpu(storage), Some((start, end))) = (&*storage, layout.contiguous_offsets())
    else {
        candle_core::bail!("precomputed output: not a contiguous CPU tensor");
    };
    let copy = match storage {
        CpuStorage::F32(x) => CpuStorage::F32(x[start..end].to_vec()),
        CpuStorage::BF16(x) => CpuStorage::BF16(x[start..end].to_vec()),
        CpuStorage::F16(x) => CpuStorage::F16(x[start..end].to_vec()),
        CpuStorage::F64(x) => CpuStorage::F64(x[start..end].to_vec()),
        _ => candle_core::bail!("precomputed output: unsupported dtype"),
    };
    Ok((copy, layout.shape().clone()))
}

struct Attached {
    output: Tensor,
    backward: Box<Backward>,
}

impl Attached {
    /// A contiguous copy of the precomputed output's storage.
    fn copy_output(&self) -> candle_core::Result<(CpuStorage, Shape)> {
        cpu_copy(&self.output)
    }

    /// `n` input gradients from the closure.
    fn gradients(&self, grad: &Tensor, n: usize) -> candle_core::Result<Vec<Option<Tensor>>> {
        let grads = (self.backward)(grad)?;
        if grads.len() != n {
            candle_core::bail!("manual-backward: {} gradients for {n} inputs", grads.len());
        }
        Ok(grads)
    }
}

impl CustomOp1 for Attached {
    fn name(&self) -> &'static str {
        "manual-backward"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        self.copy_output()
    }

    fn bwd(&self, _: &Tensor, _: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let mut g = self.gradients(grad, 1)?;
        Ok(g.pop().flatten())
    }
}

impl CustomOp2 for Attached {
    fn name(&self) -> &'static str {
        "manual-backward"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.copy_output()
    }

    fn bwd(
        &self,
        _: &Tensor,
        _: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let mut g = self.gradients(grad, 2)?.into_iter();
        Ok((g.next().flatten(), g.next().flatten()))
    }
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
        self.copy_output()
    }

    fn bwd(
        &self,
        _: &Tensor,
        _: &Tensor,
        _: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let mut g = self.gradients(grad, 3)?.into_iter();
        Ok((g.next().flatten(), g.next().flatten(), g.next().flatten()))
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
        let backward: Box<Backward> = Box::new(move |g: &Tensor| {
            Ok(vec![Some((g * &bd)?), Some((g * &ad)?), Some(g.clone())])
        });
        let inputs = [a.as_tensor(), b.as_tensor(), c.as_tensor()];
        let y = attach(&inputs, out, backward).unwrap();
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

#[cfg(test)]
mod arity_tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn one_and_two_inputs_work_and_a_wrong_gradient_count_is_an_error() {
        let dev = Device::Cpu;
        let a = Var::new(&[2f32, 3.0], &dev).unwrap();
        let b = Var::new(&[5f32, 7.0], &dev).unwrap();
        let square = (a.detach().sqr()).unwrap();
        let ad = a.detach();
        let y = attach(
            &[a.as_tensor()],
            square,
            Box::new(move |g: &Tensor| Ok(vec![Some(((g * &ad)? * 2.0)?)])),
        )
        .unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        assert_eq!(g.get(&a).unwrap().to_vec1::<f32>().unwrap(), vec![4.0, 6.0]);

        let sum = (a.detach() + b.detach()).unwrap();
        let y = attach(
            &[a.as_tensor(), b.as_tensor()],
            sum,
            Box::new(|g: &Tensor| Ok(vec![Some(g.clone()), None])),
        )
        .unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        assert!(g.get(&a).is_some() && g.get(&b).is_none());

        let y = attach(
            &[a.as_tensor()],
            a.detach(),
            Box::new(|_: &Tensor| Ok(vec![])),
        )
        .unwrap();
        assert!(y.sum_all().unwrap().backward().is_err());
    }
}
