//! The text ↔ token-id mapping of a model (`tokenizer.json`), and the
//! special tokens generation stops on.

use std::path::Path;

use tokenizers::Tokenizer;

use crate::PolicyError;
use crate::chat::{END_OF_TEXT, EOT, IM_END};

/// Tokens that end a response, end-of-turn first: Qwen's ChatML, Llama 3's
/// `<|eot_id|>`, and the end-of-text tokens of both.
const STOP_TOKENS: [&str; 5] = [IM_END, EOT, END_OF_TEXT, "<|end_of_text|>", "<|eom_id|>"];
use crate::error::Result;

/// A loaded `tokenizer.json` with its stop tokens resolved.
#[derive(Clone)]
pub struct PolicyTokenizer {
    inner: Tokenizer,
    stop_tokens: Vec<u32>,
}

impl std::fmt::Debug for PolicyTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyTokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("stop_tokens", &self.stop_tokens)
            .finish()
    }
}

impl PolicyTokenizer {
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(PolicyError::MissingFile {
                path: path.to_path_buf(),
                what: "tokenizer.json",
            });
        }
        let inner = Tokenizer::from_file(path)
            .map_err(|e| PolicyError::Tokenizer(format!("{}: {e}", path.display())))?;
        Self::new(inner)
    }

    /// Wraps a tokenizer; it must know an end-of-turn token (`<|im_end|>`
    /// or Llama 3's `<|eot_id|>`).
    pub fn new(inner: Tokenizer) -> Result<Self> {
        let stop_tokens: Vec<u32> = STOP_TOKENS
            .iter()
            .filter_map(|t| inner.token_to_id(t))
            .collect();
        if inner.token_to_id(IM_END).is_none() && inner.token_to_id(EOT).is_none() {
            return Err(PolicyError::Tokenizer(format!(
                "the tokenizer has neither {IM_END} nor {EOT}, so chat turns could never end; \
                 use a Qwen or Llama 3 chat (instruct) tokenizer"
            )));
        }
        Ok(PolicyTokenizer { inner, stop_tokens })
    }

    /// Token ids of `text`; special tokens written in the text (such as
    /// `<|im_start|>`) map to their ids. No BOS/EOS is added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| PolicyError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The text of `ids` (special tokens kept).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, false)
            .map_err(|e| PolicyError::Tokenizer(e.to_string()))
    }

    /// The ids that end a response.
    pub fn stop_tokens(&self) -> &[u32] {
        &self.stop_tokens
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }
}
