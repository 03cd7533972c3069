//! [`LlmPolicy`]: a Qwen3 model behind the [`Policy`] trait.
//!
//! Each request's messages go through the chat template
//! ([`crate::chat::render_chat`]), are tokenised, and the whole batch is
//! generated together ([`crate::generation::generate`]), each row seeded by its
//! request. The response keeps the exact token ids and sampling log-probs,
//! so the trainer never re-tokenises text.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};

use crate::chat::render_chat;
use crate::error::Result;
use crate::generation::{GenerationConfig, GenerationInput, generate};
use crate::loading::load_model_dir;
use crate::model::Qwen3Model;
use crate::tokenizer::PolicyTokenizer;
use crate::{Policy, PolicyError, PolicyRequest, PolicyResponse, SamplingParams};

/// Where a policy's weights come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// The built-in tiny model ([`crate::tiny`]), materialised on first use.
    Tiny,
    /// A local Hugging Face model directory.
    Dir(PathBuf),
    /// A hub id such as `Qwen/Qwen3-4B` (needs the `hub` feature and network).
    Hub(String),
}

impl ModelSource {
    /// `tiny` (or nothing) → Tiny; an existing path → Dir; `owner/name`
    /// (one slash, not a path that exists) → Hub; anything else → Dir (and
    /// loading then names what is missing).
    pub fn parse(spec: Option<&str>) -> Self {
        match spec {
            None | Some("") | Some("tiny") => ModelSource::Tiny,
            Some(s) => {
                let looks_like_hub = s.matches('/').count() == 1
                    && !s.starts_with(['.', '/', '~'])
                    && !Path::new(s).exists();
                if looks_like_hub {
                    ModelSource::Hub(s.to_string())
                } else {
                    ModelSource::Dir(PathBuf::from(s))
                }
            }
        }
    }

    /// The local model directory, materialising or downloading as needed.
    pub fn resolve(&self) -> Result<PathBuf> {
        match self {
            ModelSource::Tiny => crate::tiny::materialize_default(),
            ModelSource::Dir(dir) => Ok(dir.clone()),
            ModelSource::Hub(id) => resolve_hub(id),
        }
    }
}

#[cfg(feature = "hub")]
fn resolve_hub(id: &str) -> Result<PathBuf> {
    crate::hub::download(id)
}

#[cfg(not(feature = "hub"))]
fn resolve_hub(id: &str) -> Result<PathBuf> {
    Err(PolicyError::Model(format!(
        "{id:?} looks like a hub id, but this build has no hub support: rebuild with \
         `--features hub`, or pass a local model directory"
    )))
}

/// A Qwen3 language-model policy.
#[derive(Debug, Clone)]
pub struct LlmPolicy {
    name: String,
    model: Qwen3Model,
    tokenizer: PolicyTokenizer,
    prefill_token_budget: usize,
}

impl LlmPolicy {
    /// Loads a model directory onto `device` in `dtype`.
    pub fn load(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        let (model, tokenizer) = load_model_dir(dir, device, dtype)?;
        Ok(LlmPolicy {
            name: dir.display().to_string(),
            model,
            tokenizer,
            prefill_token_budget: 16_384,
        })
    }

    /// Loads from any [`ModelSource`].
    pub fn from_source(source: &ModelSource, device: &Device, dtype: DType) -> Result<Self> {
        let dir = source.resolve()?;
        let mut policy = Self::load(&dir, device, dtype)?;
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
        self.tokenizer.encode(&render_chat(&request.messages))
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
