//! LoRA adapters (Hu et al. 2021) in the PEFT layout.
//!
//! A targeted dense layer `W` gains two small factors, `A` `(r, in)` and `B`
//! `(out, r)`, and computes `x Wᵀ + (α / r) · x Aᵀ Bᵀ`. `B` starts at zero, so
//! a fresh adapter leaves the model unchanged; only `A` and `B` are trained.
//!
//! Adapters are saved the way Hugging Face PEFT saves them, so they load in
//! PEFT and back here: `adapter_model.safetensors` with tensors named
//! `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight` (and
//! `lora_B`), plus `adapter_config.json`. [`merge_lora`] folds the factors
//! into the base weights for fast inference or a full-weight export.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Tensor, Var};
use lamer_sdk::SeededRng;
use serde::{Deserialize, Serialize};

use crate::PolicyError;
use crate::error::Result;
use crate::model::Qwen3Model;

/// The file names PEFT uses.
pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
pub const ADAPTER_WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// Which layers get adapters, and how large they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// The rank `r` of the update.
    pub rank: usize,
    /// The scale numerator: the update is multiplied by `alpha / rank`.
    pub alpha: f64,
    /// Dropout on the adapter input; only 0 is supported (LaMer trains
    /// without it, and it would make log-probs stochastic).
    pub dropout: f64,
    /// Module names as PEFT writes them (`q_proj`, `down_proj`, …).
    pub target_modules: Vec<String>,
}

/// The Qwen3 linear layers LoRA can adapt; all of them by default.
pub const TARGETABLE_MODULES: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            rank: 16,
            alpha: 32.0,
            dropout: 0.0,
            target_modules: TARGETABLE_MODULES.map(String::from).to_vec(),
        }
    }
}

impl LoraConfig {
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }

    fn validate(&self) -> Result<()> {
        if self.rank == 0 {
            return Err(PolicyError::Model("LoRA rank must be positive".into()));
        }
        if self.dropout != 0.0 {
            return Err(PolicyError::Model(format!(
                "LoRA dropout {} is not supported; use 0",
                self.dropout
            )));
        }
        if let Some(bad) = self
            .target_modules
            .iter()
            .find(|m| !TARGETABLE_MODULES.contains(&m.as_str()))
        {
            return Err(PolicyError::Model(format!(
                "LoRA target module {bad:?} is not a Qwen3 dense layer; choose from {TARGETABLE_MODULES:?}"
            )));
        }
        Ok(())
    }
}

/// The two factors of one adapted layer.
#[derive(Debug, Clone)]
pub struct LoraFactors {
    /// `(r, in)`.
    pub(crate) a: Tensor,
    /// `(out, r)`.
    pub(crate) b: Tensor,
    pub(crate) scale: f64,
}

impl LoraFactors {
    /// The adapter's contribution for a 2-D input `(rows, in)`.
    pub(crate) fn delta(&self, x: &Tensor) -> Result<Tensor> {
        // The factors are f32 whatever the model's dtype (their updates are
        // far below bf16 resolution); the product returns in the input dtype.
        let xf = x.to_dtype(self.a.dtype())?;
        let delta = (xf.matmul(&self.a.t()?)?.matmul(&self.b.t()?)? * self.scale)?;
        Ok(delta.to_dtype(x.dtype())?)
    }
}

/// The PEFT tensor names of a layer's factors.
pub fn peft_names(layer_prefix: &str) -> (String, String) {
    (
        format!("base_model.model.{layer_prefix}.lora_A.weight"),
        format!("base_model.model.{layer_prefix}.lora_B.weight"),
    )
}

/// Adds fresh adapters to the targeted layers (A: PEFT's default
/// Kaiming-uniform bound `1/sqrt(in)`, seeded; B: zeros) and returns the
/// trainable factors by PEFT name. Base weights are frozen.
pub fn attach_lora(
    model: &mut Qwen3Model,
    config: &LoraConfig,
    seed: u64,
) -> Result<Vec<(String, Var)>> {
    config.validate()?;
    model.freeze_weights();
    let mut rng = SeededRng::new(seed);
    let dtype = DType::F32;
    let device = model.device().clone();
    let mut vars = Vec::new();
    for (prefix, module, linear) in model.linears_mut() {
        if !config.target_modules.iter().any(|m| m == module) {
            continue;
        }
        let (out_dim, in_dim) = linear.weight.dims2()?;
        let bound = 1.0 / (in_dim as f64).sqrt();
        let a: Vec<f32> = (0..config.rank * in_dim)
            .map(|_| ((rng.unit() * 2.0 - 1.0) * bound) as f32)
            .collect();
        let a = Tensor::from_vec(a, (config.rank, in_dim), &device)?.to_dtype(dtype)?;
        let b = Tensor::zeros((out_dim, config.rank), dtype, &device)?;
        let (a_name, b_name) = peft_names(&prefix);
        let a = Var::from_tensor(&a)?;
        let b = Var::from_tensor(&b)?;
        linear.lora = Some(LoraFactors {
            a: a.as_tensor().clone(),
            b: b.as_tensor().clone(),
            scale: config.scale(),
        });
        vars.push((a_name, a));
        vars.push((b_name, b));
    }
    Ok(vars)
}

/// The `adapter_config.json` of a plain LoRA adapter, field for field as
/// PEFT writes one (keys sorted, PEFT's defaults for what LaMer does not
/// use). PEFT's newest experimental keys are left out so that older PEFT
/// versions load it too; PEFT fills them with its defaults.
pub fn adapter_config_json(config: &LoraConfig, base_model: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "alpha_pattern": {},
        "auto_mapping": null,
        "base_model_name_or_path": base_model,
        "bias": "none",
        "exclude_modules": null,
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "layer_replication": null,
        "layers_pattern": null,
        "layers_to_transform": null,
        "loftq_config": {},
        "lora_alpha": config.alpha,
        "lora_bias": false,
        "lora_dropout": config.dropout,
        "megatron_config": null,
        "megatron_core": "megatron.core",
        "modules_to_save": null,
        "peft_type": "LORA",
        "r": config.rank,
        "rank_pattern": {},
        "revision": null,
        "target_modules": config.target_modules,
        "task_type": "CAUSAL_LM",
        "use_dora": false,
        "use_rslora": false,
    })
}

/// Writes `adapter_config.json` and `adapter_model.safetensors` into `dir`.
pub fn save_adapter(
    dir: &Path,
    config: &LoraConfig,
    vars: &[(String, Var)],
    base_model: Option<&str>,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(PolicyError::io(dir))?;
    let json = serde_json::to_string_pretty(&adapter_config_json(config, base_model))
        .map_err(|e| PolicyError::Model(format!("cannot serialise adapter config: {e}")))?;
    let path = dir.join(ADAPTER_CONFIG_FILE);
    std::fs::write(&path, json).map_err(PolicyError::io(&path))?;
    let tensors: HashMap<String, Tensor> = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    candle_core::safetensors::save(&tensors, dir.join(ADAPTER_WEIGHTS_FILE))?;
    Ok(())
}

/// A predicate on one `adapter_config.json` value.
type ValueCheck = dyn Fn(&serde_json::Value) -> bool;

/// The PEFT options this crate implements, and the value each must have.
fn unsupported_option(peft: &serde_json::Value) -> Option<String> {
    let is = |key: &str, ok: &dyn Fn(&serde_json::Value) -> bool| {
        peft.get(key)
            .is_some_and(|v| !ok(v))
            .then(|| format!("{key} = {}", peft[key]))
    };
    let null_or_empty = |v: &serde_json::Value| {
        v.is_null()
            || v.as_object().is_some_and(|o| o.is_empty())
            || v.as_array().is_some_and(|a| a.is_empty())
    };
    let falsy = |v: &serde_json::Value| v.is_null() || v == &serde_json::json!(false);
    let checks: [(&str, &ValueCheck); 11] = [
        ("peft_type", &|v| v == "LORA"),
        ("bias", &|v| v == "none"),
        ("fan_in_fan_out", &falsy),
        ("use_rslora", &falsy),
        ("use_dora", &falsy),
        ("lora_bias", &falsy),
        ("rank_pattern", &null_or_empty),
        ("alpha_pattern", &null_or_empty),
        ("layers_to_transform", &null_or_empty),
        ("modules_to_save", &null_or_empty),
        ("layer_replication", &null_or_empty),
    ];
    checks.iter().find_map(|(key, ok)| is(key, *ok))
}

/// Reads `adapter_config.json` from a PEFT adapter directory (written by
/// PEFT or by [`save_adapter`]).
pub fn read_adapter_config(dir: &Path) -> Result<LoraConfig> {
    let path = dir.join(ADAPTER_CONFIG_FILE);
    if !path.is_file() {
        return Err(PolicyError::MissingFile {
            path,
            what: "adapter_config.json and adapter_model.safetensors",
        });
    }
    let text = std::fs::read_to_string(&path).map_err(PolicyError::io(&path))?;
    let bad = |what: String| PolicyError::Model(format!("{}: {what}", path.display()));
    let peft: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if let Some(option) = unsupported_option(&peft) {
        return Err(bad(format!(
            "{option} is not supported; only plain LoRA adapters load here (no rsLoRA, DoRA, \
             biases, per-layer patterns or modules_to_save)"
        )));
    }
    let number = |key: &str| peft.get(key).and_then(serde_json::Value::as_f64);
    let rank = number("r").ok_or_else(|| bad("no rank \"r\"".into()))?;
    let target_modules = match &peft["target_modules"] {
        serde_json::Value::Array(items) => items
            .iter()
            .map(|m| m.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("target_modules must be names".into()))?,
        serde_json::Value::String(s) if s == "all-linear" => {
            TARGETABLE_MODULES.map(String::from).to_vec()
        }
        other => {
            return Err(bad(format!(
                "target_modules {other} is not supported; list module names such as \
                 [\"q_proj\", \"v_proj\"]"
            )));
        }
    };
    Ok(LoraConfig {
        rank: rank as usize,
        alpha: number("lora_alpha").unwrap_or(8.0),
        // Dropout acts only while training, and this crate trains without it
        // (log-probs must be deterministic): an adapter trained with dropout
        // computes the same function here.
        dropout: 0.0,
        target_modules,
    })
}

/// Loads a PEFT adapter from `dir` onto `model` and returns its factors as
/// trainable vars (by PEFT name), e.g. to resume training. Base weights are
/// frozen.
pub fn load_adapter(
    model: &mut Qwen3Model,
    dir: &Path,
) -> Result<(LoraConfig, Vec<(String, Var)>)> {
    let config = read_adapter_config(dir)?;
    config.validate()?;
    let path = dir.join(ADAPTER_WEIGHTS_FILE);
    if !path.is_file() {
        return Err(PolicyError::MissingFile {
            path,
            what: "adapter_config.json and adapter_model.safetensors",
        });
    }
    let device = model.device().clone();
    let dtype = DType::F32;
    let mut tensors = candle_core::safetensors::load(&path, &device)?;
    model.freeze_weights();
    let mut vars = Vec::new();
    for (prefix, module, linear) in model.linears_mut() {
        if !config.target_modules.iter().any(|m| m == module) {
            continue;
        }
        let (out_dim, in_dim) = linear.weight.dims2()?;
        let (a_name, b_name) = peft_names(&prefix);
        let mut take = |name: &str, shape: Vec<usize>| -> Result<Var> {
            let t = tensors
                .remove(name)
                .ok_or_else(|| PolicyError::MissingTensor {
                    tensor: name.to_string(),
                    expected: shape.clone(),
                })?;
            if t.dims() != shape.as_slice() {
                return Err(PolicyError::WeightShape {
                    tensor: name.to_string(),
                    expected: shape,
                    found: t.dims().to_vec(),
                });
            }
            Ok(Var::from_tensor(&t.to_dtype(dtype)?)?)
        };
        let a = take(&a_name, vec![config.rank, in_dim])?;
        let b = take(&b_name, vec![out_dim, config.rank])?;
        linear.lora = Some(LoraFactors {
            a: a.as_tensor().clone(),
            b: b.as_tensor().clone(),
            scale: config.scale(),
        });
        vars.push((a_name, a));
        vars.push((b_name, b));
    }
    Ok((config, vars))
}

/// Folds every adapter into its base weight (`W += scale · B A`) and removes
/// the factors. The merged model computes the same function, faster.
pub fn merge_lora(model: &mut Qwen3Model) -> Result<()> {
    for (_, _, linear) in model.linears_mut() {
        if let Some(lora) = linear.lora.take() {
            let w = linear.weight.detach();
            let delta = (lora
                .b
                .to_dtype(DType::F32)?
                .matmul(&lora.a.to_dtype(DType::F32)?)?
                * lora.scale)?;
            linear.weight = (w.to_dtype(DType::F32)? + delta)?.to_dtype(w.dtype())?;
        }
    }
    Ok(())
}

/// Removes every adapter without merging it.
pub fn detach_lora(model: &mut Qwen3Model) {
    for (_, _, linear) in model.linears_mut() {
        linear.lora = None;
    }
}
