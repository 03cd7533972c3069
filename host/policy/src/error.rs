//! Why a policy could not answer, or a model could not be loaded or trained.
//!
//! Every variant says what is wrong and, where it can, what to do about it:
//! which file is missing, which tensor has which shape, which request is too
//! long.

use std::path::PathBuf;

/// Why a policy could not answer.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A request had no messages or only empty ones.
    #[error("request {index} has an empty prompt")]
    EmptyPrompt { index: usize },
    /// A prompt does not fit the model's context.
    #[error(
        "request {index}: the prompt has {tokens} tokens but the model's context holds {limit} \
         (including {max_new_tokens} new tokens); shorten the history window or raise the limit"
    )]
    PromptTooLong {
        index: usize,
        tokens: usize,
        limit: usize,
        max_new_tokens: usize,
    },
    /// The model directory is unusable; the message says which file and why.
    #[error("model: {0}")]
    Model(String),
    /// `--model` named nothing loadable; `tried` lists each reading.
    #[error("model: cannot use {spec:?} as a model; tried {tried}")]
    ModelNotFound { spec: String, tried: String },
    /// A file the model directory must contain is absent.
    #[error("model: {path} is missing; a model directory needs {what}")]
    MissingFile { path: PathBuf, what: &'static str },
    /// `config.json` describes another model family.
    #[error(
        "model: unsupported model_type {model_type:?} (architectures {architectures:?}); \
         supported: {}",
        crate::config::Architecture::SUPPORTED
    )]
    UnsupportedArchitecture {
        architectures: Vec<String>,
        model_type: String,
    },
    /// The weights do not have the shape `config.json` implies.
    #[error(
        "model: tensor {tensor} has shape {found:?} in the weights but config.json implies \
         {expected:?}; the config and the safetensors files do not belong together"
    )]
    WeightShape {
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A tensor `config.json` implies is absent from the weights.
    #[error("model: tensor {tensor} (shape {expected:?}) is missing from the weights")]
    MissingTensor {
        tensor: String,
        expected: Vec<usize>,
    },
    /// The tokenizer could not be loaded, trained or used.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A tensor operation failed.
    #[error("tensor computation failed: {0}")]
    Compute(String),

    #[error("memory plan: {0}")]
    MemoryPlan(String),
    /// A remote backend answered only part of the batch; the rest finally
    /// failed (after retries). Callers that can end single trials (the
    /// rollout engine) take the answers; others treat it as an error.
    #[error("{}", .0.summary())]
    PartialBatch(Box<crate::types::PartialBatch>),
}

impl From<candle_core::Error> for PolicyError {
    fn from(e: candle_core::Error) -> Self {
        PolicyError::Compute(e.to_string())
    }
}

impl PolicyError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> PolicyError {
        let path = path.into();
        move |source| PolicyError::Io { path, source }
    }
}

/// The result type of this crate.
pub type Result<T, E = PolicyError> = std::result::Result<T, E>;
