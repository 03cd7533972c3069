//! Choosing what a training run updates, and saving/loading it.
//!
//! [`TrainableParams::new`] turns a loaded model into a trainable one in one of
//! two [`TrainMode`]s: **LoRA** (base weights frozen, adapter factors are the
//! vars; saved as a PEFT adapter) or **full** fine-tuning (every weight is a
//! var; saved as a Hugging Face `model.safetensors`). The trainer owns the
//! returned vars: it passes them to [`crate::optim::AdamW`], and calls
//! [`TrainableParams::save`] / [`TrainableParams::load`] to checkpoint.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Tensor, Var};

use crate::PolicyError;
use crate::error::Result;
use crate::lora::{self, LoraConfig};
use crate::model::Qwen3Model;

/// The file a full fine-tuning checkpoint's weights go to.
pub const FULL_WEIGHTS_FILE: &str = "model.safetensors";

/// What a training run updates.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainMode {
    /// Every base weight (small models).
    Full,
    /// LoRA adapters on the configured layers; base weights frozen.
    Lora(LoraConfig),
}

/// The trainable variables of a model, by checkpoint name.
#[derive(Debug, Clone)]
pub struct TrainableParams {
    mode: TrainMode,
    vars: Vec<(String, Var)>,
}

impl TrainableParams {
    /// Makes `model` trainable in `mode`. For LoRA, `seed` draws the `A`
    /// factors.
    pub fn new(model: &mut Qwen3Model, mode: TrainMode, seed: u64) -> Result<Self> {
        lora::detach_lora(model);
        let vars = match &mode {
            TrainMode::Full => model.make_weights_trainable()?,
            TrainMode::Lora(config) => lora::attach_lora(model, config, seed)?,
        };
        Ok(TrainableParams { mode, vars })
    }

    /// Resumes from a checkpoint directory written by [`TrainableParams::save`]:
    /// a PEFT adapter (if `adapter_config.json` exists) or full weights.
    pub fn resume(model: &mut Qwen3Model, dir: &Path) -> Result<Self> {
        if dir.join(lora::ADAPTER_CONFIG_FILE).is_file() {
            let (config, vars) = lora::load_adapter(model, dir)?;
            return Ok(TrainableParams {
                mode: TrainMode::Lora(config),
                vars,
            });
        }
        let mut params = TrainableParams::new(model, TrainMode::Full, 0)?;
        params.load(dir)?;
        Ok(params)
    }

    pub fn mode(&self) -> &TrainMode {
        &self.mode
    }

    /// The vars with their checkpoint names (HF names, or PEFT names for LoRA).
    pub fn named_vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// The vars alone, e.g. for an optimiser.
    pub fn vars(&self) -> Vec<Var> {
        self.vars.iter().map(|(_, v)| v.clone()).collect()
    }

    /// The number of trainable scalars.
    pub fn parameter_count(&self) -> usize {
        self.vars.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// Writes the trainable values into `dir`: a PEFT adapter
    /// (`adapter_config.json` + `adapter_model.safetensors`) or
    /// `model.safetensors` with Hugging Face names.
    pub fn save(&self, dir: &Path) -> Result<()> {
        match &self.mode {
            TrainMode::Lora(config) => lora::save_adapter(dir, config, &self.vars, None),
            TrainMode::Full => {
                std::fs::create_dir_all(dir).map_err(PolicyError::io(dir))?;
                let tensors: HashMap<String, Tensor> = self
                    .vars
                    .iter()
                    .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
                    .collect();
                candle_core::safetensors::save(&tensors, dir.join(FULL_WEIGHTS_FILE))?;
                Ok(())
            }
        }
    }

    /// Overwrites the vars with the values saved in `dir` (same mode and
    /// shapes); the model sees the new values at once.
    pub fn load(&mut self, dir: &Path) -> Result<()> {
        let file = match self.mode {
            TrainMode::Lora(_) => lora::ADAPTER_WEIGHTS_FILE,
            TrainMode::Full => FULL_WEIGHTS_FILE,
        };
        let path = dir.join(file);
        if !path.is_file() {
            return Err(PolicyError::MissingFile {
                path,
                what: "a checkpoint written by TrainableParams::save",
            });
        }
        let device = self.vars.first().map(|(_, v)| v.device().clone());
        let Some(device) = device else {
            return Ok(());
        };
        let saved = candle_core::safetensors::load(&path, &device)?;
        for (name, var) in &self.vars {
            let t = saved.get(name).ok_or_else(|| PolicyError::MissingTensor {
                tensor: name.clone(),
                expected: var.dims().to_vec(),
            })?;
            if t.dims() != var.dims() {
                return Err(PolicyError::WeightShape {
                    tensor: name.clone(),
                    expected: var.dims().to_vec(),
                    found: t.dims().to_vec(),
                });
            }
            var.set(&t.to_dtype(var.dtype())?)?;
        }
        Ok(())
    }
}
