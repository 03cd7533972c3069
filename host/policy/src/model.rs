//! A trainable decoder (Qwen3, Qwen2/Qwen2.5, Llama 3) with the Hugging Face
//! weight names.
//!
//! `candle_transformers::models::qwen3` cannot be trained (its fused RMSNorm,
//! RoPE, softmax and CPU attention have no backward pass, it keeps a hidden KV
//! cache, and it takes no attention mask). This module re-implements the same
//! network so that one set of weights serves both uses:
//!
//! - **inference** ([`Pass::Inference`]) uses candle's fused kernels (RMSNorm,
//!   RoPE, softmax) for speed, an explicit [`KvCache`] owned by the caller and
//!   per-row positions, so left-padded batches decode correctly;
//! - **training** ([`Pass::Train`]) gives every weight (or LoRA factor) a
//!   gradient: on the CPU, RMSNorm, RoPE and attention run their fused
//!   forward with a backward written by hand ([`crate::train_kernels`],
//!   [`crate::attention`]); elsewhere the same maths is composed from
//!   differentiable tensor ops.
//!
//! Masks are additive f32, shape `(B, 1, Lq, Lk)`, with [`MASKED`] (−∞) on
//! forbidden keys; attention ([`crate::attention`]) gives a query that sees no
//! key at all (a left pad) zero weights, so it stays finite. The model
//! returns hidden states; [`Qwen3Model::logits`] projects only the positions the
//! caller needs (prefill of a 150k vocabulary over every position would not fit
//! in memory for large batches).
//!
//! The three families share this code; [`crate::config::Architecture`] and
//! the config switch per-head q/k RMSNorm (Qwen3), projection biases (Qwen2's
//! q/k/v, Llama's optional ones) and Llama 3's rotary frequency scaling
//! ([`crate::config::RopeScaling`]).

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::VarBuilder;

use crate::attention::{DEFAULT_SCORE_BUDGET, attend};
use crate::config::{Qwen3Config, RopeScaling};
use crate::error::Result;
use crate::gated_silu::gated_silu;
use crate::kv_cache::KvCache;
use crate::lora::LoraFactors;
use crate::{cpu_matmul, train_kernels};

/// The additive mask value of a forbidden key.
pub const MASKED: f64 = f64::NEG_INFINITY;

/// Which implementation of the forward pass to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Fused kernels without backward (generation).
    Inference,
    /// Differentiable composition (training log-probs).
    Train,
}

/// A dense layer `y = x Wᵀ (+ b) (+ scale · x Aᵀ Bᵀ)` whose weight may be a
/// frozen tensor or a trainable [`Var`]'s tensor, with optional LoRA factors.
#[derive(Debug, Clone)]
pub struct Linear {
    pub(crate) weight: Tensor,
    pub(crate) bias: Option<Tensor>,
    pub(crate) lora: Option<LoraFactors>,
}

impl Linear {
    fn load(vb: &VarBuilder, out_dim: usize, in_dim: usize, bias: bool) -> Result<Self> {
        Ok(Linear {
            weight: vb.get((out_dim, in_dim), "weight")?,
            bias: if bias {
                Some(vb.get(out_dim, "bias")?)
            } else {
                None
            },
            lora: None,
        })
    }

    /// The base weight, `(out, in)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let in_dim = dims[dims.len() - 1];
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let x2 = x.reshape((rows, in_dim))?;
        let training = x2.track_op() || self.weight.track_op();
        let mut y = if training && x2.device().is_cpu() {
            train_kernels::linear(&x2, &self.weight, self.bias.as_ref())?
        } else {
            let y = cpu_matmul::matmul(&x2, &self.weight.t()?)?;
            match &self.bias {
                Some(b) => y.broadcast_add(b)?,
                None => y,
            }
        };
        if let Some(lora) = &self.lora {
            y = (y + lora.delta(&x2)?)?;
        }
        let mut out_dims = dims;
        let last = out_dims.len() - 1;
        out_dims[last] = self.weight.dim(0)?;
        Ok(y.reshape(out_dims)?)
    }
}

fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64, pass: Pass) -> Result<Tensor> {
    match pass {
        Pass::Inference => Ok(candle_nn::ops::rms_norm(x, weight, eps as f32)?),
        Pass::Train if x.device().is_cpu() => train_kernels::rms_norm(x, weight, eps),
        Pass::Train => {
            // Normalise in f32 whatever the storage dtype, as the fused kernel does.
            let dtype = x.dtype();
            let xf = x.to_dtype(DType::F32)?;
            let mean_sq = xf.sqr()?.mean_keepdim(D::Minus1)?;
            let normed = xf.broadcast_div(&(mean_sq + eps)?.sqrt()?)?;
            Ok(normed.to_dtype(dtype)?.broadcast_mul(weight)?)
        }
    }
}

/// Rotary position embedding with per-row positions: `cos`/`sin` are
/// `(B, L, head_dim / 2)`; `x` is `(B, H, L, head_dim)`.
fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor, pass: Pass) -> Result<Tensor> {
    match pass {
        Pass::Inference => Ok(candle_nn::rotary_emb::rope(&x.contiguous()?, cos, sin)?),
        Pass::Train if x.device().is_cpu() => train_kernels::rope(x, cos, sin),
        Pass::Train => {
            let half = x.dim(D::Minus1)? / 2;
            let cos = Tensor::cat(&[cos, cos], D::Minus1)?.unsqueeze(1)?;
            let sin = Tensor::cat(&[sin, sin], D::Minus1)?.unsqueeze(1)?;
            let x1 = x.narrow(D::Minus1, 0, half)?;
            let x2 = x.narrow(D::Minus1, half, half)?;
            let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
            Ok((x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?)?)
        }
    }
}

/// Per-position cosine and sine tables of the rotary embedding.
#[derive(Debug, Clone)]
pub(crate) struct RotaryTables {
    cos: Tensor,
    sin: Tensor,
}

impl RotaryTables {
    fn new(config: &Qwen3Config, dtype: DType, device: &Device) -> Result<Self> {
        let dim = config.head_dim();
        let (theta, scaling) = config.rope()?;
        let inv_freq: Vec<f32> = (0..dim)
            .step_by(2)
            .map(|i| scale_frequency(1.0 / theta.powf(i as f64 / dim as f64), scaling) as f32)
            .collect();
        let n = inv_freq.len();
        let inv_freq = Tensor::from_vec(inv_freq, (1, n), device)?;
        let max = config.max_position_embeddings;
        let t = Tensor::arange(0u32, max as u32, device)?
            .to_dtype(DType::F32)?
            .reshape((max, 1))?;
        let freqs = t.matmul(&inv_freq)?;
        Ok(RotaryTables {
            cos: freqs.cos()?.to_dtype(dtype)?,
            sin: freqs.sin()?.to_dtype(dtype)?,
        })
    }

    /// Tables for `positions` `(B, L)` (u32): `(B, L, head_dim / 2)` each.
    fn at(&self, positions: &Tensor) -> Result<(Tensor, Tensor)> {
        let (b, l) = positions.dims2()?;
        let flat = positions.flatten_all()?;
        let half = self.cos.dim(1)?;
        let cos = self.cos.index_select(&flat, 0)?.reshape((b, l, half))?;
        let sin = self.sin.index_select(&flat, 0)?.reshape((b, l, half))?;
        Ok((cos, sin))
    }
}

/// One rotary frequency after `scaling`. Llama 3 divides the frequencies
/// whose wavelength exceeds the original context / `low_freq_factor` by
/// `factor`, keeps those shorter than original / `high_freq_factor`, and
/// interpolates linearly (in `original / wavelength`) between.
fn scale_frequency(inv_freq: f64, scaling: RopeScaling) -> f64 {
    let RopeScaling::Llama3 {
        factor,
        low_freq_factor,
        high_freq_factor,
        original_max_position_embeddings,
    } = scaling
    else {
        return inv_freq;
    };
    let original = original_max_position_embeddings as f64;
    let wavelength = 2.0 * std::f64::consts::PI / inv_freq;
    if wavelength < original / high_freq_factor {
        inv_freq
    } else if wavelength > original / low_freq_factor {
        inv_freq / factor
    } else {
        let smooth =
            (original / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor);
        (1.0 - smooth) * inv_freq / factor + smooth * inv_freq
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Attention {
    pub(crate) q_proj: Linear,
    pub(crate) k_proj: Linear,
    pub(crate) v_proj: Linear,
    pub(crate) o_proj: Linear,
    /// Per-head RMSNorm weights of queries and keys (Qwen3 only).
    pub(crate) q_norm: Option<Tensor>,
    pub(crate) k_norm: Option<Tensor>,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
    eps: f64,
}

impl Attention {
    fn load(config: &Qwen3Config, vb: &VarBuilder) -> Result<Self> {
        let hd = config.head_dim();
        let (h, nh, nkv) = (
            config.hidden_size,
            config.num_attention_heads,
            config.num_key_value_heads,
        );
        let (qkv_bias, o_bias) = (config.qkv_bias(), config.o_bias());
        let norm = |name: &str| -> Result<Option<Tensor>> {
            Ok(if config.qk_norm() {
                Some(vb.get(hd, name)?)
            } else {
                None
            })
        };
        Ok(Attention {
            q_proj: Linear::load(&vb.pp("q_proj"), nh * hd, h, qkv_bias)?,
            k_proj: Linear::load(&vb.pp("k_proj"), nkv * hd, h, qkv_bias)?,
            v_proj: Linear::load(&vb.pp("v_proj"), nkv * hd, h, qkv_bias)?,
            o_proj: Linear::load(&vb.pp("o_proj"), h, nh * hd, o_bias)?,
            q_norm: norm("q_norm.weight")?,
            k_norm: norm("k_norm.weight")?,
            num_heads: nh,
            num_kv_heads: nkv,
            head_dim: hd,
            eps: config.rms_norm_eps,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: &Tensor,
        cache: Option<(&mut KvCache, usize)>,
        pass: Pass,
        score_budget: usize,
    ) -> Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        let split = |t: Tensor, heads: usize| -> Result<Tensor> {
            Ok(t.reshape((b, l, heads, self.head_dim))?.transpose(1, 2)?)
        };
        let q = split(self.q_proj.forward(x)?, self.num_heads)?;
        let k = split(self.k_proj.forward(x)?, self.num_kv_heads)?;
        let v = split(self.v_proj.forward(x)?, self.num_kv_heads)?;
        let q = match &self.q_norm {
            Some(w) => rms_norm(&q.contiguous()?, w, self.eps, pass)?,
            None => q,
        };
        let k = match &self.k_norm {
            Some(w) => rms_norm(&k.contiguous()?, w, self.eps, pass)?,
            None => k,
        };
        let q = rope(&q, cos, sin, pass)?;
        let k = rope(&k, cos, sin, pass)?;
        let (k, v) = match cache {
            Some((cache, layer)) => cache.append(layer, &k, &v.contiguous()?)?,
            None => (k, v.contiguous()?),
        };
        let ctx = attend(&q, &k, &v, mask, pass, score_budget)?;
        self.o_proj.forward(&ctx)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Mlp {
    pub(crate) gate_proj: Linear,
    pub(crate) up_proj: Linear,
    pub(crate) down_proj: Linear,
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gate = self.gate_proj.forward(x)?;
        let up = self.up_proj.forward(x)?;
        self.down_proj.forward(&gated_silu(&gate, &up)?)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct DecoderLayer {
    pub(crate) self_attn: Attention,
    pub(crate) mlp: Mlp,
    pub(crate) input_layernorm: Tensor,
    pub(crate) post_attention_layernorm: Tensor,
}

/// What every decoder layer of one forward shares besides its input: the
/// rotary tables at the batch's positions, the additive mask and settings.
#[derive(Debug, Clone)]
pub(crate) struct LayerConstants {
    pub(crate) cos: Tensor,
    pub(crate) sin: Tensor,
    pub(crate) mask: Tensor,
    pub(crate) eps: f64,
    pub(crate) score_budget: usize,
}

impl DecoderLayer {
    /// Pre-norm attention, then a pre-norm MLP, each added to the residual.
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        shared: &LayerConstants,
        cache: Option<(&mut KvCache, usize)>,
        pass: Pass,
    ) -> Result<Tensor> {
        let s = shared;
        let h = rms_norm(x, &self.input_layernorm, s.eps, pass)?;
        let h = self
            .self_attn
            .forward(&h, &s.cos, &s.sin, &s.mask, cache, pass, s.score_budget)?;
        let x = (x + h)?;
        let h = rms_norm(&x, &self.post_attention_layernorm, s.eps, pass)?;
        Ok((&x + self.mlp.forward(&h)?)?)
    }
}

/// The Qwen3 causal language model.
#[derive(Debug, Clone)]
pub struct Qwen3Model {
    config: Qwen3Config,
    pub(crate) embed_tokens: Tensor,
    pub(crate) layers: Vec<DecoderLayer>,
    pub(crate) norm: Tensor,
    /// `None` when the output projection is tied to `embed_tokens`.
    pub(crate) lm_head: Option<Tensor>,
    rotary: RotaryTables,
    dtype: DType,
    device: Device,
    /// Inference attention materialises at most this many scores at once.
    score_budget: usize,
    /// Recompute each decoder layer in backward instead of keeping its
    /// activations ([`crate::activation_checkpoint`]).
    activation_checkpointing: bool,
}

impl Qwen3Model {
    /// Builds the model from weights with Hugging Face names.
    pub fn new(config: &Qwen3Config, vb: VarBuilder) -> Result<Self> {
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let embed_tokens = vb.get((config.vocab_size, h), "model.embed_tokens.weight")?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for n in 0..config.num_hidden_layers {
            let lv = vb.pp(format!("model.layers.{n}"));
            let mv = lv.pp("mlp");
            layers.push(DecoderLayer {
                self_attn: Attention::load(config, &lv.pp("self_attn"))?,
                mlp: Mlp {
                    gate_proj: Linear::load(&mv.pp("gate_proj"), i, h, config.mlp_bias)?,
                    up_proj: Linear::load(&mv.pp("up_proj"), i, h, config.mlp_bias)?,
                    down_proj: Linear::load(&mv.pp("down_proj"), h, i, config.mlp_bias)?,
                },
                input_layernorm: lv.get(h, "input_layernorm.weight")?,
                post_attention_layernorm: lv.get(h, "post_attention_layernorm.weight")?,
            });
        }
        let lm_head = if config.tie_word_embeddings {
            None
        } else {
            Some(vb.get((config.vocab_size, h), "lm_head.weight")?)
        };
        Ok(Qwen3Model {
            config: config.clone(),
            norm: vb.get(h, "model.norm.weight")?,
            embed_tokens,
            layers,
            lm_head,
            rotary: RotaryTables::new(config, vb.dtype(), vb.device())?,
            dtype: vb.dtype(),
            device: vb.device().clone(),
            score_budget: DEFAULT_SCORE_BUDGET,
            activation_checkpointing: false,
        })
    }

    pub fn config(&self) -> &Qwen3Config {
        &self.config
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Caps the attention scores one inference block materialises
    /// (`rows × heads × query block × keys`, at least one query per block).
    pub fn set_attention_score_budget(&mut self, elements: usize) {
        self.score_budget = elements.max(1);
    }

    /// Training forwards ([`Pass::Train`] without a cache) keep only each
    /// decoder layer's input and recompute the layer in backward; gradients
    /// then come from [`crate::activation_checkpoint::backward`]. Off by default.
    pub fn set_activation_checkpointing(&mut self, on: bool) {
        self.activation_checkpointing = on;
    }

    pub fn activation_checkpointing(&self) -> bool {
        self.activation_checkpointing
    }

    /// Final-norm hidden states `(B, L, hidden)` of `input` `(B, L)` at
    /// `positions` `(B, L)` (both u32) under the additive `mask`
    /// `(B, 1, L, L_cache + L)`. With a cache, keys and values are appended
    /// to it and attention covers everything cached so far.
    pub fn forward_hidden(
        &self,
        input: &Tensor,
        positions: &Tensor,
        mask: &Tensor,
        mut cache: Option<&mut KvCache>,
        pass: Pass,
    ) -> Result<Tensor> {
        let (b, l) = input.dims2()?;
        let mut x = self
            .embed_tokens
            .index_select(&input.flatten_all()?, 0)?
            .reshape((b, l, self.config.hidden_size))?;
        let (cos, sin) = self.rotary.at(positions)?;
        let eps = self.config.rms_norm_eps;
        let shared = LayerConstants {
            cos,
            sin,
            mask: mask.to_dtype(DType::F32)?,
            eps,
            score_budget: self.score_budget,
        };
        let recompute = self.activation_checkpointing && pass == Pass::Train && cache.is_none();
        for (n, layer) in self.layers.iter().enumerate() {
            x = if recompute {
                crate::activation_checkpoint::checkpointed_layer(layer, &x, &shared)?
            } else {
                layer.forward(&x, &shared, cache.as_deref_mut().map(|c| (c, n)), pass)?
            };
        }
        rms_norm(&x, &self.norm, eps, pass)
    }

    /// The output projection's weight `(vocab, hidden)`.
    pub fn lm_head_weight(&self) -> &Tensor {
        self.lm_head.as_ref().unwrap_or(&self.embed_tokens)
    }

    /// Logits `(…, vocab)` of hidden states `(…, hidden)`.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let dims = hidden.dims().to_vec();
        let h = dims[dims.len() - 1];
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let logits = cpu_matmul::matmul(&hidden.reshape((rows, h))?, &self.lm_head_weight().t()?)?;
        let mut out = dims;
        let last = out.len() - 1;
        out[last] = self.config.vocab_size;
        Ok(logits.reshape(out)?)
    }

    /// Every dense layer with its Hugging Face prefix
    /// (`model.layers.N.self_attn.q_proj`, …) and short module name (`q_proj`).
    pub(crate) fn linears_mut(&mut self) -> Vec<(String, &'static str, &mut Linear)> {
        let mut out = Vec::new();
        for (n, layer) in self.layers.iter_mut().enumerate() {
            let a = &mut layer.self_attn;
            let m = &mut layer.mlp;
            let attn = format!("model.layers.{n}.self_attn");
            let mlp = format!("model.layers.{n}.mlp");
            out.push((format!("{attn}.q_proj"), "q_proj", &mut a.q_proj));
            out.push((format!("{attn}.k_proj"), "k_proj", &mut a.k_proj));
            out.push((format!("{attn}.v_proj"), "v_proj", &mut a.v_proj));
            out.push((format!("{attn}.o_proj"), "o_proj", &mut a.o_proj));
            out.push((format!("{mlp}.gate_proj"), "gate_proj", &mut m.gate_proj));
            out.push((format!("{mlp}.up_proj"), "up_proj", &mut m.up_proj));
            out.push((format!("{mlp}.down_proj"), "down_proj", &mut m.down_proj));
        }
        out
    }

    /// Every base tensor with its Hugging Face name (tied weights once).
    pub(crate) fn weights_mut(&mut self) -> Vec<(String, &mut Tensor)> {
        let mut out: Vec<(String, &mut Tensor)> = Vec::new();
        out.push(("model.embed_tokens.weight".into(), &mut self.embed_tokens));
        for (n, layer) in self.layers.iter_mut().enumerate() {
            let p = format!("model.layers.{n}");
            let a = &mut layer.self_attn;
            out.push((
                format!("{p}.input_layernorm.weight"),
                &mut layer.input_layernorm,
            ));
            out.push((
                format!("{p}.post_attention_layernorm.weight"),
                &mut layer.post_attention_layernorm,
            ));
            if let Some(w) = a.q_norm.as_mut() {
                out.push((format!("{p}.self_attn.q_norm.weight"), w));
            }
            if let Some(w) = a.k_norm.as_mut() {
                out.push((format!("{p}.self_attn.k_norm.weight"), w));
            }
            let m = &mut layer.mlp;
            let linears: [(&str, &mut Linear); 7] = [
                ("self_attn.q_proj", &mut a.q_proj),
                ("self_attn.k_proj", &mut a.k_proj),
                ("self_attn.v_proj", &mut a.v_proj),
                ("self_attn.o_proj", &mut a.o_proj),
                ("mlp.gate_proj", &mut m.gate_proj),
                ("mlp.up_proj", &mut m.up_proj),
                ("mlp.down_proj", &mut m.down_proj),
            ];
            for (name, lin) in linears {
                out.push((format!("{p}.{name}.weight"), &mut lin.weight));
                if let Some(b) = lin.bias.as_mut() {
                    out.push((format!("{p}.{name}.bias"), b));
                }
            }
        }
        out.push(("model.norm.weight".into(), &mut self.norm));
        if let Some(head) = self.lm_head.as_mut() {
            out.push(("lm_head.weight".into(), head));
        }
        out
    }

    /// All base weights by Hugging Face name (for saving a full checkpoint).
    pub fn named_weights(&mut self) -> Vec<(String, Tensor)> {
        self.weights_mut()
            .into_iter()
            .map(|(n, t)| (n, t.clone()))
            .collect()
    }

    /// Makes every base weight trainable: each tensor is replaced by a
    /// [`Var`] holding the same values, and the vars are returned by name.
    pub(crate) fn make_weights_trainable(&mut self) -> Result<Vec<(String, Var)>> {
        let mut vars = Vec::new();
        for (name, tensor) in self.weights_mut() {
            let var = Var::from_tensor(tensor)?;
            *tensor = var.as_tensor().clone();
            vars.push((name, var));
        }
        Ok(vars)
    }

    /// Freezes every base weight: later passes compute no gradient for them.
    pub(crate) fn freeze_weights(&mut self) {
        for (_, tensor) in self.weights_mut() {
            *tensor = tensor.detach();
        }
    }
}

/// The names and shapes of every tensor `config` implies, in a stable order.
pub fn expected_tensors(config: &Qwen3Config) -> Vec<(String, Vec<usize>)> {
    let (h, i, v) = (
        config.hidden_size,
        config.intermediate_size,
        config.vocab_size,
    );
    let hd = config.head_dim();
    let q = config.num_attention_heads * hd;
    let kv = config.num_key_value_heads * hd;
    let mut out = vec![("model.embed_tokens.weight".to_string(), vec![v, h])];
    for n in 0..config.num_hidden_layers {
        let p = format!("model.layers.{n}");
        out.push((format!("{p}.input_layernorm.weight"), vec![h]));
        out.push((format!("{p}.post_attention_layernorm.weight"), vec![h]));
        if config.qk_norm() {
            out.push((format!("{p}.self_attn.q_norm.weight"), vec![hd]));
            out.push((format!("{p}.self_attn.k_norm.weight"), vec![hd]));
        }
        for (name, out_dim, in_dim) in [
            ("self_attn.q_proj", q, h),
            ("self_attn.k_proj", kv, h),
            ("self_attn.v_proj", kv, h),
            ("self_attn.o_proj", h, q),
            ("mlp.gate_proj", i, h),
            ("mlp.up_proj", i, h),
            ("mlp.down_proj", h, i),
        ] {
            out.push((format!("{p}.{name}.weight"), vec![out_dim, in_dim]));
            let bias = match name {
                "self_attn.o_proj" => config.o_bias(),
                n if n.starts_with("self_attn") => config.qkv_bias(),
                _ => config.mlp_bias,
            };
            if bias {
                out.push((format!("{p}.{name}.bias"), vec![out_dim]));
            }
        }
    }
    out.push(("model.norm.weight".into(), vec![h]));
    if !config.tie_word_embeddings {
        out.push(("lm_head.weight".into(), vec![v, h]));
    }
    out
}

/// A causal + key-padding additive mask `(B, 1, L, L)` for `key_valid`
/// `(B, L)` (1 = real token, 0 = padding), as f32.
pub fn causal_padding_mask(key_valid: &[Vec<u8>], device: &Device) -> Result<Tensor> {
    let b = key_valid.len();
    let l = key_valid.first().map_or(0, Vec::len);
    let mut data = vec![0f32; b * l * l];
    for (row, valid) in key_valid.iter().enumerate() {
        for q in 0..l {
            for k in 0..l {
                if k > q || valid[k] == 0 {
                    data[(row * l + q) * l + k] = MASKED as f32;
                }
            }
        }
    }
    Ok(Tensor::from_vec(data, (b, 1, l, l), device)?)
}
