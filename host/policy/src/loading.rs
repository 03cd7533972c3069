//! Finding and loading a Hugging Face model directory.
//!
//! A directory holds `config.json`, `tokenizer.json` and the weights: either
//! `model.safetensors` or shards listed by `model.safetensors.index.json`.
//! Before any tensor is materialised, every tensor the config implies is
//! checked against the safetensors headers, so a config/weights mismatch
//! names the tensor and both shapes instead of failing deep inside a matmul.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use crate::PolicyError;
use crate::config::Qwen3Config;
use crate::error::Result;
use crate::model::{Qwen3Model, expected_tensors};
use crate::tokenizer::PolicyTokenizer;

pub const CONFIG_FILE: &str = "config.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Hugging Face's tokenizer settings (chat template, special tokens);
/// optional for loading here, written for other tools.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const WEIGHTS_INDEX_FILE: &str = "model.safetensors.index.json";

/// The files of a model directory.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFiles {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub tokenizer: PathBuf,
    pub weights: Vec<PathBuf>,
}

impl ModelFiles {
    /// Locates the files of `dir`, naming the first one that is missing.
    pub fn locate(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(PolicyError::MissingFile {
                path: dir.to_path_buf(),
                what: "to be a directory (a Hugging Face model directory)",
            });
        }
        let need = |name: &str, what: &'static str| -> Result<PathBuf> {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(PolicyError::MissingFile { path, what })
            }
        };
        let config = need(CONFIG_FILE, "config.json (the architecture)")?;
        let tokenizer = need(TOKENIZER_FILE, "tokenizer.json (a tokenizers file)")?;
        Ok(ModelFiles {
            dir: dir.to_path_buf(),
            config,
            tokenizer,
            weights: locate_weights(dir)?,
        })
    }

    pub fn read_config(&self) -> Result<Qwen3Config> {
        let text = std::fs::read_to_string(&self.config).map_err(PolicyError::io(&self.config))?;
        Qwen3Config::from_json(&text)
    }
}

/// The weight files of `dir`: `model.safetensors`, or the shards
/// `model.safetensors.index.json` lists.
fn locate_weights(dir: &Path) -> Result<Vec<PathBuf>> {
    let need = |name: &str, what: &'static str| -> Result<PathBuf> {
        let path = dir.join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(PolicyError::MissingFile { path, what })
        }
    };
    {
        let single = dir.join(WEIGHTS_FILE);
        let index = dir.join(WEIGHTS_INDEX_FILE);
        let weights = if single.is_file() {
            vec![single]
        } else if index.is_file() {
            let text = std::fs::read_to_string(&index).map_err(PolicyError::io(&index))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| PolicyError::Model(format!("{}: {e}", index.display())))?;
            let map = json
                .get("weight_map")
                .and_then(|m| m.as_object())
                .ok_or_else(|| {
                    PolicyError::Model(format!("{}: no \"weight_map\" object", index.display()))
                })?;
            let shards: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
            let mut files = Vec::new();
            for shard in shards {
                files.push(need(
                    shard,
                    "every shard listed in model.safetensors.index.json",
                )?);
            }
            files
        } else {
            return Err(PolicyError::MissingFile {
                path: single,
                what: "model.safetensors or model.safetensors.index.json with its shards",
            });
        };
        Ok(weights)
    }
}

/// Parses a dtype name: `f32`, `bf16` or `f16`.
pub fn parse_dtype(name: &str) -> Result<DType> {
    match name.to_ascii_lowercase().as_str() {
        "f32" | "float32" => Ok(DType::F32),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        "f16" | "float16" => Ok(DType::F16),
        other => Err(PolicyError::Model(format!(
            "unsupported dtype {other:?}; use f32, bf16 or f16"
        ))),
    }
}

/// Parses a device name: `cpu` or `cuda:N` (needs the `cuda` feature).
pub fn parse_device(name: &str) -> Result<Device> {
    let name = name.to_ascii_lowercase();
    if name == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = match name.as_str() {
        "cuda" => Some(0),
        other => other.strip_prefix("cuda:").and_then(|n| n.parse().ok()),
    };
    match ordinal {
        Some(n) => Device::new_cuda(n).map_err(|e| {
            PolicyError::Model(format!(
                "cannot open {name}: {e} (build with `--features cuda` on a machine with a GPU)"
            ))
        }),
        None => Err(PolicyError::Model(format!(
            "unknown device {name:?}; use cpu or cuda:N"
        ))),
    }
}

/// Checks that the weights hold every tensor `config` implies, with its shape.
pub fn check_weights(config: &Qwen3Config, weights: &[PathBuf]) -> Result<()> {
    // SAFETY: the files are mapped read-only and only their headers are read
    // here; nothing else in this process writes model files.
    let tensors = unsafe { candle_core::safetensors::MmapedSafetensors::multi(weights)? };
    for (name, expected) in expected_tensors(config) {
        match tensors.get(&name) {
            Ok(view) => {
                if view.shape() != expected.as_slice() {
                    return Err(PolicyError::WeightShape {
                        tensor: name,
                        expected,
                        found: view.shape().to_vec(),
                    });
                }
            }
            Err(_) => {
                return Err(PolicyError::MissingTensor {
                    tensor: name,
                    expected,
                });
            }
        }
    }
    Ok(())
}

/// Loads only the network of a model directory (`config.json` and weights),
/// e.g. a checkpoint saved by `transformers` without a tokenizer.
pub fn load_model(dir: &Path, device: &Device, dtype: DType) -> Result<Qwen3Model> {
    let config_path = dir.join(CONFIG_FILE);
    if !config_path.is_file() {
        return Err(PolicyError::MissingFile {
            path: config_path,
            what: "config.json (the architecture)",
        });
    }
    let text = std::fs::read_to_string(&config_path).map_err(PolicyError::io(&config_path))?;
    let config = Qwen3Config::from_json(&text)?;
    let weights = locate_weights(dir)?;
    check_weights(&config, &weights)?;
    // SAFETY: as in `check_weights`.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&weights, dtype, device)? };
    Qwen3Model::new(&config, vb)
}

/// Writes `model` as a Hugging Face model directory at `dest`: every file of
/// `source_dir` except weights (config, tokenizer, chat template…) plus the
/// model's current weights as `model.safetensors` (tied weights once, the
/// way `save_pretrained` writes them). Merge LoRA adapters first
/// ([`crate::lora::merge_lora`]) to export a fine-tuned model.
pub fn write_model_dir(model: &mut Qwen3Model, source_dir: &Path, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dest).map_err(PolicyError::io(dest))?;
    let entries = std::fs::read_dir(source_dir).map_err(PolicyError::io(source_dir))?;
    for entry in entries {
        let entry = entry.map_err(PolicyError::io(source_dir))?;
        let name = entry.file_name().to_string_lossy().to_string();
        let is_weights =
            name.ends_with(".safetensors") || name.ends_with(".safetensors.index.json");
        if entry.path().is_file() && !is_weights && !name.starts_with('.') {
            let to = dest.join(&name);
            std::fs::copy(entry.path(), &to).map_err(PolicyError::io(&to))?;
        }
    }
    let tensors: std::collections::HashMap<String, candle_core::Tensor> = model
        .named_weights()
        .into_iter()
        .map(|(n, t)| (n, t.detach()))
        .collect();
    save_safetensors(&tensors, &dest.join(WEIGHTS_FILE))
}

/// Saves `tensors` as a safetensors file.
pub fn save_safetensors(
    tensors: &std::collections::HashMap<String, candle_core::Tensor>,
    path: &Path,
) -> Result<()> {
    candle_core::safetensors::save(tensors, path)?;
    Ok(())
}

/// Loads the model and tokenizer of a model directory.
pub fn load_model_dir(
    dir: &Path,
    device: &Device,
    dtype: DType,
) -> Result<(Qwen3Model, PolicyTokenizer)> {
    let files = ModelFiles::locate(dir)?;
    let config = files.read_config()?;
    check_weights(&config, &files.weights)?;
    let tokenizer = PolicyTokenizer::from_file(&files.tokenizer)?;
    if tokenizer.vocab_size() > config.vocab_size {
        return Err(PolicyError::Model(format!(
            "{}: the tokenizer has {} tokens but config.json's vocab_size is {}",
            files.tokenizer.display(),
            tokenizer.vocab_size(),
            config.vocab_size
        )));
    }
    // SAFETY: as in `check_weights`; the mapping lives only while the
    // tensors are copied to `device`.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&files.weights, dtype, device)? };
    let model = Qwen3Model::new(&config, vb)?;
    Ok((model, tokenizer))
}
