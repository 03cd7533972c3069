//! [`LlmPolicy`]: a Qwen3 model behind the [`Policy`] trait.
//!
//! Each request's messages go through the chat template
//! ([`crate::chat::ChatFormat`]: Qwen3 by default), are tokenised, and the whole batch is
//! generated together ([`crate::generation::generate`]), each row seeded by its
//! request. The response keeps the exact token ids and sampling log-probs,
//! so the trainer never re-tokenises text.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};

use crate::chat::ChatFormat;
use crate::error::Result;
use crate::generation::{GenerationConfig, GenerationInput, generate};
use crate::loading::{CONFIG_FILE, check_weights, load_model_dir};
use crate::lora::ADAPTER_CONFIG_FILE;
use crate::model::Qwen3Model;
use crate::tokenizer::PolicyTokenizer;
use crate::{Policy, PolicyError, PolicyRequest, PolicyResponse, SamplingParams};

/// Where a policy's weights come from.
///
/// `--model` names one of: the built-in `tiny` model; a Hugging Face model
/// directory (`config.json`, `tokenizer.json`, safetensors); a run directory
/// of ours (its exported `model/`, else its latest checkpoint); a checkpoint
/// directory of ours (`state.json` + `policy/`: full weights or a LoRA
/// adapter over the model the run started from); a PEFT adapter directory
/// (`adapter_config.json`, over its `base_model_name_or_path`); or a hub id
/// `owner/name` (feature `hub`). When nothing fits, the error lists every
/// reading it tried.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// The built-in tiny model ([`crate::tiny`]), materialised on first use.
    Tiny,
    /// A local directory: a model, run, checkpoint or adapter directory.
    Dir(PathBuf),
    /// A hub id such as `Qwen/Qwen3-4B` (needs the `hub` feature and network).
    Hub(String),
}

/// A model to load: the directory with `config.json` and `tokenizer.json`,
/// optionally other weights to use instead of its own, and an adapter to
/// merge.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedModel {
    pub dir: PathBuf,
    /// A `model.safetensors` with every weight (a full fine-tuning
    /// checkpoint), replacing the directory's weights.
    pub weights: Option<PathBuf>,
    /// A PEFT adapter directory, merged after loading.
    pub adapter: Option<PathBuf>,
}

/// How deep run → checkpoint → base-model references may nest.
const MAX_RESOLVE_DEPTH: usize = 4;

impl ModelSource {
    /// `tiny` (or nothing) → Tiny; an existing path → Dir; `owner/name`
    /// (one slash, not a path that exists) → Hub; anything else → Dir (and
    /// resolving then names what it tried).
    pub fn parse(spec: Option<&str>) -> Self {
        match spec {
            None | Some("") | Some("tiny") => ModelSource::Tiny,
            Some(s) => {
                if looks_like_hub_id(s) && !Path::new(s).exists() {
                    ModelSource::Hub(s.to_string())
                } else {
                    ModelSource::Dir(PathBuf::from(s))
                }
            }
        }
    }

    /// The directory with the model's `config.json` and tokenizer,
    /// materialising or downloading as needed (for a checkpoint or adapter,
    /// the base model's directory; see [`ModelSource::locate`]).
    pub fn resolve(&self) -> Result<PathBuf> {
        Ok(self.locate()?.dir)
    }

    /// Everything needed to load the model this source names.
    pub fn locate(&self) -> Result<ResolvedModel> {
        self.locate_at(0)
    }

    fn locate_at(&self, depth: usize) -> Result<ResolvedModel> {
        let plain = |dir: PathBuf| ResolvedModel {
            dir,
            weights: None,
            adapter: None,
        };
        match self {
            ModelSource::Tiny => Ok(plain(crate::tiny::materialize_default()?)),
            ModelSource::Dir(dir) => locate_dir(dir, depth),
            ModelSource::Hub(id) => {
                resolve_hub(id)
                    .map(plain)
                    .map_err(|hub| PolicyError::ModelNotFound {
                        spec: id.clone(),
                        tried: format!(
                            "a local directory (no such path), a hub id ({})",
                            hub.to_string().trim_start_matches("model: ")
                        ),
                    })
            }
        }
    }
}

fn looks_like_hub_id(s: &str) -> bool {
    s.matches('/').count() == 1
        && !s.starts_with(['.', '/', '~'])
        && !s.ends_with('/')
        && !s.contains('\\')
}

/// Reads a local directory as a model, run, checkpoint or adapter directory.
fn locate_dir(dir: &Path, depth: usize) -> Result<ResolvedModel> {
    let spec = dir.display().to_string();
    let not_found = |tried: String| PolicyError::ModelNotFound {
        spec: spec.clone(),
        tried,
    };
    if !dir.is_dir() {
        let hub = if looks_like_hub_id(&spec) {
            ", and it is written as a path, so not read as a hub id"
        } else {
            ""
        };
        return Err(not_found(format!(
            "a local directory (no such directory){hub}"
        )));
    }
    if depth > MAX_RESOLVE_DEPTH {
        return Err(not_found(
            "run/checkpoint references nest too deeply".into(),
        ));
    }
    let plain = |d: PathBuf| ResolvedModel {
        dir: d,
        weights: None,
        adapter: None,
    };
    if dir.join(CONFIG_FILE).is_file() {
        return Ok(plain(dir.to_path_buf()));
    }
    if dir.join("model").join(CONFIG_FILE).is_file() {
        return Ok(plain(dir.join("model")));
    }
    if dir.join(ADAPTER_CONFIG_FILE).is_file() {
        return locate_adapter(dir, depth);
    }
    if let Some(checkpoint) = checkpoint_dir(dir) {
        return locate_checkpoint(&checkpoint, depth);
    }
    Err(not_found(
        "a Hugging Face model directory (no config.json), a run directory (no model/config.json, \
         no checkpoints/latest), a checkpoint directory (no state.json), a PEFT adapter (no \
         adapter_config.json)"
            .into(),
    ))
}

/// The checkpoint `dir` is, or the latest one of the run it is.
fn checkpoint_dir(dir: &Path) -> Option<PathBuf> {
    if dir.join("state.json").is_file() {
        return Some(dir.to_path_buf());
    }
    let latest = dir.join("checkpoints").join("latest");
    let name = std::fs::read_to_string(&latest).ok()?;
    let checkpoint = dir.join("checkpoints").join(name.trim());
    checkpoint
        .join("state.json")
        .is_file()
        .then_some(checkpoint)
}

/// A checkpoint's trained weights over the model its run started from.
fn locate_checkpoint(checkpoint: &Path, depth: usize) -> Result<ResolvedModel> {
    let state_path = checkpoint.join("state.json");
    let text = std::fs::read_to_string(&state_path).map_err(PolicyError::io(&state_path))?;
    let state: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| PolicyError::Model(format!("{}: {e}", state_path.display())))?;
    let base = ModelSource::parse(state.get("model").and_then(|m| m.as_str()));
    let mut resolved = base.locate_at(depth + 1)?;
    let policy = checkpoint.join("policy");
    if policy.join(ADAPTER_CONFIG_FILE).is_file() {
        resolved.adapter = Some(policy);
    } else if policy.join(crate::trainable::FULL_WEIGHTS_FILE).is_file() {
        resolved.weights = Some(policy.join(crate::trainable::FULL_WEIGHTS_FILE));
        resolved.adapter = None;
    } else {
        return Err(PolicyError::MissingFile {
            path: policy,
            what: "policy/model.safetensors or a PEFT adapter in a checkpoint",
        });
    }
    Ok(resolved)
}

/// A PEFT adapter over its `base_model_name_or_path` (relative paths are
/// read from the adapter directory).
fn locate_adapter(dir: &Path, depth: usize) -> Result<ResolvedModel> {
    let path = dir.join(ADAPTER_CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(PolicyError::io(&path))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| PolicyError::Model(format!("{}: {e}", path.display())))?;
    let base = json
        .get("base_model_name_or_path")
        .and_then(|b| b.as_str())
        .map(|b| {
            let relative = dir.join(b);
            if relative.exists() {
                relative.display().to_string()
            } else {
                b.to_string()
            }
        });
    let mut resolved = ModelSource::parse(base.as_deref()).locate_at(depth + 1)?;
    resolved.adapter = Some(dir.to_path_buf());
    Ok(resolved)
}

/// The Jinja chat template of a model directory: `chat_template.jinja`
/// (transformers 5) or `tokenizer_config.json`'s `chat_template` (a string,
/// or the `default` entry of a list of named templates).
fn read_chat_template(dir: &Path) -> Option<String> {
    if let Ok(text) = std::fs::read_to_string(dir.join("chat_template.jinja")) {
        return Some(text);
    }
    let text = std::fs::read_to_string(dir.join(crate::loading::TOKENIZER_CONFIG_FILE)).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    match json.get("chat_template")? {
        serde_json::Value::String(t) => Some(t.clone()),
        serde_json::Value::Array(named) => named
            .iter()
            .find(|t| t["name"] == "default")
            .and_then(|t| t["template"].as_str())
            .map(String::from),
        _ => None,
    }
}

#[cfg(feature = "hub")]
fn resolve_hub(id: &str) -> Result<PathBuf> {
    crate::hub::download(id)
}

#[cfg(not(feature = "hub"))]
fn resolve_hub(_id: &str) -> Result<PathBuf> {
    Err(PolicyError::Model(
        "this build has no hub support: rebuild with `--features hub`, or pass a local model \
         directory"
            .into(),
    ))
}

/// A Qwen3 language-model policy.
#[derive(Debug, Clone)]
pub struct LlmPolicy {
    name: String,
    model: Qwen3Model,
    tokenizer: PolicyTokenizer,
    chat_format: ChatFormat,
    prefill_token_budget: usize,
}

impl LlmPolicy {
    /// Loads a model directory onto `device` in `dtype`; the chat format
    /// follows the directory's chat template ([`ChatFormat::detect`]).
    pub fn load(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        let (model, tokenizer) = load_model_dir(dir, device, dtype)?;
        let template = read_chat_template(dir);
        let chat_format = ChatFormat::detect(template.as_deref(), model.config().architecture()?);
        Ok(LlmPolicy {
            name: dir.display().to_string(),
            model,
            tokenizer,
            chat_format,
            prefill_token_budget: 16_384,
        })
    }

    /// How prompts are laid out for this model.
    pub fn chat_format(&self) -> &ChatFormat {
        &self.chat_format
    }

    /// Loads from any [`ModelSource`] (a checkpoint's weights or an adapter
    /// applied, and the adapter merged).
    pub fn from_source(source: &ModelSource, device: &Device, dtype: DType) -> Result<Self> {
        let resolved = source.locate()?;
        let mut policy = Self::load(&resolved.dir, device, dtype)?;
        if let Some(weights) = &resolved.weights {
            let config = policy.model.config().clone();
            // SAFETY: as in `loading::check_weights`.
            check_weights(&config, std::slice::from_ref(weights))?;
            let vb = unsafe {
                candle_nn::VarBuilder::from_mmaped_safetensors(
                    std::slice::from_ref(weights),
                    dtype,
                    device,
                )?
            };
            policy.model = Qwen3Model::new(&config, vb)?;
        }
        if let Some(adapter) = &resolved.adapter {
            crate::lora::load_adapter(&mut policy.model, adapter)?;
            crate::lora::merge_lora(&mut policy.model)?;
            policy.model.freeze_weights();
        }
        if resolved.weights.is_some() || resolved.adapter.is_some() {
            policy.name = match source {
                ModelSource::Dir(d) => d.display().to_string(),
                other => format!("{other:?}"),
            };
        }
        if *source == ModelSource::Tiny {
            policy.name = "tiny".into();
        }
        Ok(policy)
    }

    /// The built-in tiny model on the CPU in f32.
    pub fn tiny() -> Result<Self> {
        Self::from_source(&ModelSource::Tiny, &Device::Cpu, DType::F32)
    }

    pub fn from_parts(
        name: impl Into<String>,
        model: Qwen3Model,
        tokenizer: PolicyTokenizer,
    ) -> Self {
        LlmPolicy {
            name: name.into(),
            model,
            tokenizer,
            chat_format: ChatFormat::Qwen3,
            prefill_token_budget: 16_384,
        }
    }

    pub fn model(&self) -> &Qwen3Model {
        &self.model
    }
    /// Mutable access, e.g. to make it trainable ([`crate::TrainableParams`]).
    pub fn model_mut(&mut self) -> &mut Qwen3Model {
        &mut self.model
    }
    pub fn tokenizer(&self) -> &PolicyTokenizer {
        &self.tokenizer
    }
    /// Caps prefill work per row group (rows × prompt tokens).
    pub fn set_prefill_token_budget(&mut self, tokens: usize) {
        self.prefill_token_budget = tokens.max(1);
    }

    /// The prompt token ids of a request (chat template applied).
    pub fn prompt_ids(&self, index: usize, request: &PolicyRequest) -> Result<Vec<u32>> {
        if request.messages.iter().all(|m| m.content.trim().is_empty()) {
            return Err(PolicyError::EmptyPrompt { index });
        }
        self.tokenizer
            .encode(&self.chat_format.render(&request.messages))
    }
}

impl Policy for LlmPolicy {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn generate(
        &mut self,
        requests: &[PolicyRequest],
        sampling: &SamplingParams,
    ) -> Result<Vec<PolicyResponse>, PolicyError> {
        let limit = self.model.config().max_position_embeddings;
        let mut inputs = Vec::with_capacity(requests.len());
        for (index, request) in requests.iter().enumerate() {
            let prompt_ids = self.prompt_ids(index, request)?;
            if prompt_ids.len() + sampling.max_new_tokens > limit {
                return Err(PolicyError::PromptTooLong {
                    index,
                    tokens: prompt_ids.len(),
                    limit,
                    max_new_tokens: sampling.max_new_tokens,
                });
            }
            inputs.push(GenerationInput {
                prompt_ids,
                seed: request.seed,
            });
        }
        let mut config =
            GenerationConfig::new(sampling.clone(), self.tokenizer.stop_tokens().to_vec());
        config.prefill_token_budget = self.prefill_token_budget;
        let outputs = generate(&self.model, &inputs, &config)?;
        inputs
            .into_iter()
            .zip(outputs)
            .map(|(input, out)| {
                Ok(PolicyResponse {
                    text: self.tokenizer.decode(&out.tokens)?,
                    prompt_ids: input.prompt_ids,
                    response_ids: out.tokens,
                    logprobs: out.logprobs,
                    finish: out.finish,
                    stop_token: out.stop.map(|(t, _)| t),
                    stop_logprob: out.stop.map(|(_, l)| l),
                })
            })
            .collect()
    }
}
