//! Activation checkpointing: trade compute for memory in the training forward.
//!
//! Backpropagation needs, for every op of the forward, the tensors that op
//! read. Over a decoder that is per layer the norms, projections, attention
//! scores and probabilities and MLP intermediates of every token, which grows
//! as `layers × rows × (tokens × width + heads × tokens²)` and is what runs
//! out of memory first for long rows. With checkpointing the forward keeps
//! only each layer's *input*; in backward each layer is run again from that
//! input, with gradient tracking, and differentiated on the spot. One layer's
//! activations are alive at a time, for about one extra forward of compute.
//!
//! **How it sits in candle's autograd.** Candle has no checkpointing, but a
//! [`CustomOp2`] may compute its own backward. [`checkpoint`] runs the block
//! on a *detached* copy of its input and keeps only the result (the block's
//! graph, and with it every intermediate, is dropped at once); a custom op
//! then puts that result into the graph as a function of the input (and of
//! one trainable parameter, so that the op is recorded even when the input
//! itself needs no gradient, as the embedding output under LoRA). Its
//! backward recomputes the block from a fresh [`Var`] holding the input,
//! differentiates `Σ output ⊙ upstream-gradient` locally, and returns the
//! input's gradient to candle.
//!
//! The block's own parameters cannot be returned through the op (an op has
//! at most three inputs), so their gradients go to a **sink** that only
//! [`backward`] opens: call it instead of `loss.backward()`. It runs candle's
//! backward and adds what the checkpointed blocks deposited, so its
//! [`GradStore`] holds the same gradients as a plain backward of the same
//! graph without checkpointing. A plain `loss.backward()` through a
//! checkpointed block is an error that names [`backward`], never silently
//! missing gradients. With checkpointing off, [`backward`] is exactly
//! `loss.backward()`, so trainers call it unconditionally.
//!
//! The recomputed forward must equal the first one: the blocks checkpointed
//! here are deterministic (no dropout), and read the same constants (mask,
//! rotary tables) both times.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use candle_core::backend::BackendStorage;
use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, CudaStorage, CustomOp2, Layout, Shape, Storage, Tensor, Var};

use crate::PolicyError;
use crate::error::Result;
use crate::model::{DecoderLayer, LayerConstants, Pass};

thread_local! {
    /// Parameter gradients of recomputed blocks during [`backward`]; `None`
    /// outside it. Candle runs every op's backward on the calling thread.
    static SINK: RefCell<Option<GradStore>> = const { RefCell::new(None) };
}

/// What a checkpointed block computes from its input.
type Block = dyn Fn(&Tensor) -> Result<Tensor> + Send + Sync;

/// The gradients of `loss` with respect to every variable it depends on,
/// including those inside checkpointed blocks. Use it in place of
/// `loss.backward()` wherever the model may checkpoint.
pub fn backward(loss: &Tensor) -> Result<GradStore> {
    let sink = OpenSink::open()?;
    let mut grads = loss.backward()?;
    grads.extend(sink.take())?;
    Ok(grads)
}

/// The sink of the current [`backward`]; closed again when dropped, also on
/// an error.
struct OpenSink;

impl OpenSink {
    fn open() -> Result<Self> {
        SINK.with(|s| {
            let mut s = s.borrow_mut();
            if s.is_some() {
                return Err(PolicyError::Model(
                    "activation_checkpoint::backward is already running on this thread".into(),
                ));
            }
            *s = Some(GradStore::default());
            Ok(OpenSink)
        })
    }

    fn take(&self) -> GradStore {
        SINK.with(|s| s.borrow_mut().replace(GradStore::default()))
            .unwrap_or_default()
    }
}

impl Drop for OpenSink {
    fn drop(&mut self) {
        SINK.with(|s| s.borrow_mut().take());
    }
}

/// `block(x)`, with `block`'s activations recomputed in backward instead of
/// kept. `params` are the tensors `block` reads that may be trained: each is
/// a [`Var`]'s tensor (it gets a gradient from [`backward`]) or a frozen
/// tensor (ignored). Anything else `block` captures is a constant.
pub fn checkpoint<F>(x: &Tensor, params: Vec<Tensor>, block: F) -> Result<Tensor>
where
    F: Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static,
{
    if params.iter().any(|p| p.track_op() && !p.is_variable()) {
        return Err(PolicyError::Model(
            "a checkpointed block's parameters must be vars or frozen tensors".into(),
        ));
    }
    // Nothing trainable inside: the input's own graph carries every
    // gradient, and there is nothing to recompute for.
    let Some(anchor) = params.iter().find(|p| p.is_variable()).cloned() else {
        return block(x);
    };
    let output = block(&x.detach())?.detach().contiguous()?;
    let op = Checkpointed {
        block: Arc::new(block),
        params,
        output: Mutex::new(Some(output)),
    };
    Ok(x.apply_op2(&anchor, op)?)
}

/// One decoder layer of a training forward, checkpointed.
pub(crate) fn checkpointed_layer(
    layer: &DecoderLayer,
    x: &Tensor,
    constants: &LayerConstants,
) -> Result<Tensor> {
    let params = layer_params(layer);
    let (layer, shared) = (layer.clone(), constants.clone());
    checkpoint(x, params, move |x| {
        layer.forward(x, &shared, None, Pass::Train)
    })
}

/// Every tensor of `layer` that may be trained: norms, projection weights
/// and biases, LoRA factors.
fn layer_params(layer: &DecoderLayer) -> Vec<Tensor> {
    let a = &layer.self_attn;
    let m = &layer.mlp;
    let mut out = vec![
        layer.input_layernorm.clone(),
        layer.post_attention_layernorm.clone(),
    ];
    out.extend(a.q_norm.iter().chain(&a.k_norm).cloned());
    for lin in [
        &a.q_proj,
        &a.k_proj,
        &a.v_proj,
        &a.o_proj,
        &m.gate_proj,
        &m.up_proj,
        &m.down_proj,
    ] {
        out.push(lin.weight.clone());
        out.extend(lin.bias.iter().cloned());
        if let Some(lora) = &lin.lora {
            out.extend([lora.a.clone(), lora.b.clone()]);
        }
    }
    out
}

/// The custom op of [`checkpoint`]: `(input, anchor) → block(input)`.
struct Checkpointed {
    block: Arc<Block>,
    params: Vec<Tensor>,
    /// The result of the detached forward, moved into the graph by the
    /// op's forward (so it is not held twice).
    output: Mutex<Option<Tensor>>,
}

const NOT_OPEN: &str = "a checkpointed layer was differentiated by Tensor::backward; \
     use lamer_policy::activation_checkpoint::backward(&loss) so that its weights get gradients";

impl Checkpointed {
    fn take_output(&self) -> candle_core::Result<Tensor> {
        let mut slot = self
            .output
            .lock()
            .map_err(|_| candle_core::Error::Msg("checkpoint: poisoned output".into()))?;
        slot.take()
            .ok_or_else(|| candle_core::Error::Msg("checkpoint: forward ran twice".into()))
    }

    /// The block's gradients at `input` for the upstream gradient `grad`:
    /// the input's, returned; the parameters', deposited in the sink.
    fn recompute(&self, input: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor> {
        if !SINK.with(|s| s.borrow().is_some()) {
            candle_core::bail!("{NOT_OPEN}");
        }
        let x = Var::from_tensor(&input.detach())?;
        let y = (self.block)(x.as_tensor())
            .map_err(|e| candle_core::Error::Msg(format!("recomputing a checkpoint: {e}")))?;
        let mut local = (y * grad)?.sum_all()?.backward()?;
        let input_grad = local
            .remove(x.as_tensor())
            .ok_or_else(|| candle_core::Error::Msg("checkpoint: no input gradient".into()))?;
        self.deposit(&mut local)?;
        Ok(input_grad)
    }

    /// Moves the parameters' gradients from `local` into the sink, adding to
    /// what other uses of the same parameters left there.
    fn deposit(&self, local: &mut GradStore) -> candle_core::Result<()> {
        let mut mine = GradStore::default();
        for p in self.params.iter().filter(|p| p.is_variable()) {
            if let Some(g) = local.remove(p) {
                mine.insert(p, g);
            }
        }
        SINK.with(|s| match s.borrow_mut().as_mut() {
            Some(sink) => sink.extend(mine),
            None => candle_core::bail!("{NOT_OPEN}"),
        })
    }
}

impl CustomOp2 for Checkpointed {
    fn name(&self) -> &'static str {
        "checkpointed-block"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        crate::manual_grad::cpu_copy(&self.take_output()?)
    }

    fn cuda_fwd(
        &self,
        _: &CudaStorage,
        _: &Layout,
        _: &CudaStorage,
        _: &Layout,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        let y = self.take_output()?;
        let (storage, layout) = y.storage_and_layout();
        match &*storage {
            // A clone copies the whole buffer; `output` is contiguous, and
            // starts at 0 unless it is a view (then the offset is refused).
            Storage::Cuda(s) if layout.start_offset() == 0 && layout.is_contiguous() => {
                Ok((s.try_clone(layout)?, layout.shape().clone()))
            }
            _ => candle_core::bail!("checkpoint: the block's output is not a whole CUDA tensor"),
        }
    }

    fn bwd(
        &self,
        input: &Tensor,
        _anchor: &Tensor,
        _output: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let input_grad = self.recompute(input, grad)?;
        // An input that needs no gradient (the frozen embedding's output)
        // gets none; the anchor's comes through the sink with the others.
        Ok((input.track_op().then_some(input_grad), None))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};

    use super::*;
    use crate::test_values::max_diff;

    /// `tanh(x W) ⊙ x + b`, a block with two parameters and a residual-like
    /// use of its input.
    fn block(w: Tensor, b: Tensor) -> impl Fn(&Tensor) -> Result<Tensor> + Send + Sync {
        move |x| Ok((x.matmul(&w)?.tanh()?.mul(x)?.broadcast_add(&b))?)
    }

    fn vars() -> (Var, Var, Var) {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 4), &dev).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (4, 4), &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::randn(0f32, 1.0, 4, &dev).unwrap()).unwrap();
        (x, w, b)
    }

    /// Two stacked uses of the same block (parameters shared), squared sum.
    fn loss(x: &Var, w: &Var, b: &Var, ckpt: bool) -> Tensor {
        let f = || block(w.as_tensor().clone(), b.as_tensor().clone());
        let params = vec![w.as_tensor().clone(), b.as_tensor().clone()];
        let mut h = x.as_tensor().clone();
        for _ in 0..2 {
            h = if ckpt {
                checkpoint(&h, params.clone(), f()).unwrap()
            } else {
                f()(&h).unwrap()
            };
        }
        h.sqr().unwrap().sum_all().unwrap()
    }

    #[test]
    fn gradients_equal_those_without_checkpointing() {
        let (x, w, b) = vars();
        let plain = loss(&x, &w, &b, false);
        let ckpt = loss(&x, &w, &b, true);
        assert_eq!(max_diff(&plain, &ckpt), 0.0, "the forward is the same");
        let g0 = plain.backward().unwrap();
        let g1 = backward(&ckpt).unwrap();
        for v in [&x, &w, &b] {
            let d = max_diff(g0.get(v).unwrap(), g1.get(v).unwrap());
            assert!(d < 1e-5, "{d}");
        }
    }

    #[test]
    fn a_plain_backward_through_a_checkpoint_is_an_error_that_names_the_fix() {
        let (x, w, b) = vars();
        let err = loss(&x, &w, &b, true).backward().unwrap_err().to_string();
        assert!(err.contains("activation_checkpoint::backward"), "{err}");
        // And the sink is closed again after a failed or finished backward.
        backward(&loss(&x, &w, &b, true)).unwrap();
        assert!(SINK.with(|s| s.borrow().is_none()));
    }

    #[test]
    fn an_input_without_gradient_still_trains_the_block() {
        let (x, w, b) = vars();
        let frozen = x.as_tensor().detach();
        let params = vec![w.as_tensor().clone(), b.as_tensor().clone()];
        let y = checkpoint(
            &frozen,
            params,
            block(w.as_tensor().clone(), b.as_tensor().clone()),
        )
        .unwrap();
        let grads = backward(&y.sum_all().unwrap()).unwrap();
        assert!(grads.get(&w).is_some() && grads.get(&b).is_some());
        assert!(grads.get(&frozen).is_none());
    }

    #[test]
    fn a_block_without_trainable_parameters_runs_plainly() {
        let x = Tensor::ones((2, 2), DType::F32, &Device::Cpu).unwrap();
        let y = checkpoint(&x, vec![x.clone()], |x| Ok((x * 2.0)?)).unwrap();
        assert!(!y.track_op());
        assert_eq!(max_diff(&y, &(x * 2.0).unwrap()), 0.0);
    }
}
