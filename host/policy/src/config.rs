//! The Qwen3 architecture description: the fields of a Hugging Face
//! `config.json` that shape the network, plus the presets this project uses
//! (the built-in tiny model and the Qwen3-4B shape for GPU benchmarks).
//!
//! Only Qwen3 is supported; [`Qwen3Config::check_architecture`] turns any other
//! `architectures`/`model_type` into a clear error instead of a shape mismatch
//! deep in loading.

use serde::{Deserialize, Serialize};

use crate::PolicyError;

/// The `config.json` of a Qwen3 causal language model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Qwen3Config {
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    /// Qwen3 decouples the head size from `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    pub max_position_embeddings: usize,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    #[serde(default)]
    pub torch_dtype: Option<String>,
}

fn default_rope_theta() -> f64 {
    1_000_000.0
}
fn default_rms_norm_eps() -> f64 {
    1e-6
}
fn default_hidden_act() -> String {
    "silu".into()
}

impl Qwen3Config {
    /// Parses a `config.json` text and checks that it describes a Qwen3 model.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let config: Qwen3Config = serde_json::from_str(text).map_err(|e| {
            PolicyError::Model(format!("config.json is not a valid Qwen3 config: {e}"))
        })?;
        config.check_architecture()?;
        config.check_shapes()?;
        Ok(config)
    }

    /// Rejects configs of other model families.
    pub fn check_architecture(&self) -> Result<(), PolicyError> {
        let arch_ok = self.architectures.is_empty()
            || self.architectures.iter().any(|a| a == "Qwen3ForCausalLM");
        let type_ok = self.model_type.is_empty() || self.model_type == "qwen3";
        if !arch_ok || !type_ok || (self.architectures.is_empty() && self.model_type.is_empty()) {
            return Err(PolicyError::UnsupportedArchitecture {
                architectures: self.architectures.clone(),
                model_type: self.model_type.clone(),
            });
        }
        if self.hidden_act != "silu" {
            return Err(PolicyError::Model(format!(
                "config.json: hidden_act {:?} is not supported (Qwen3 uses \"silu\")",
                self.hidden_act
            )));
        }
        Ok(())
    }

    fn check_shapes(&self) -> Result<(), PolicyError> {
        let bad = |what: &str| Err(PolicyError::Model(format!("config.json: {what}")));
        if self.num_attention_heads == 0 || self.num_key_value_heads == 0 {
            return bad("attention head counts must be positive");
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return bad("num_attention_heads must be a multiple of num_key_value_heads");
        }
        if !self.head_dim().is_multiple_of(2) || self.head_dim() == 0 {
            return bad("head_dim must be even and positive (rotary embeddings rotate pairs)");
        }
        if self.vocab_size == 0 || self.hidden_size == 0 || self.max_position_embeddings == 0 {
            return bad("vocab_size, hidden_size and max_position_embeddings must be positive");
        }
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// The Qwen3-4B shape (random weights are fine for throughput benchmarks).
    pub fn qwen3_4b() -> Self {
        Qwen3Config {
            architectures: vec!["Qwen3ForCausalLM".into()],
            model_type: "qwen3".into(),
            vocab_size: 151_936,
            hidden_size: 2560,
            intermediate_size: 9728,
            num_hidden_layers: 36,
            num_attention_heads: 32,
            num_key_value_heads: 8,
            head_dim: Some(128),
            max_position_embeddings: 40_960,
            rope_theta: 1_000_000.0,
            rms_norm_eps: 1e-6,
            tie_word_embeddings: true,
            attention_bias: false,
            hidden_act: "silu".into(),
            bos_token_id: Some(151_643),
            eos_token_id: Some(151_645),
            torch_dtype: Some("bfloat16".into()),
        }
    }

    /// The Qwen3-0.6B shape.
    pub fn qwen3_0_6b() -> Self {
        Qwen3Config {
            hidden_size: 1024,
            intermediate_size: 3072,
            num_hidden_layers: 28,
            num_attention_heads: 16,
            num_key_value_heads: 8,
            ..Self::qwen3_4b()
        }
    }

    /// A minimal Qwen3 for unit tests: every code path (GQA, q/k norms, tied
    /// embeddings) at a size that runs in milliseconds.
    pub fn test_tiny(vocab_size: usize) -> Self {
        Qwen3Config {
            vocab_size,
            hidden_size: 32,
            intermediate_size: 64,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            head_dim: Some(8),
            max_position_embeddings: 256,
            rope_theta: 10_000.0,
            bos_token_id: None,
            eos_token_id: None,
            torch_dtype: Some("float32".into()),
            ..Self::qwen3_4b()
        }
    }

    /// The number of parameters (tied embeddings counted once).
    pub fn parameter_count(&self) -> usize {
        let h = self.hidden_size;
        let hd = self.head_dim();
        let q = self.num_attention_heads * hd;
        let kv = self.num_key_value_heads * hd;
        let attn = h * q + 2 * h * kv + q * h + 2 * hd;
        let bias = if self.attention_bias {
            q + 2 * kv + h
        } else {
            0
        };
        let mlp = 3 * h * self.intermediate_size;
        let layer = attn + bias + mlp + 2 * h;
        let embed = self.vocab_size * h;
        let head = if self.tie_word_embeddings { 0 } else { embed };
        embed + head + self.num_hidden_layers * layer + h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_hugging_face_config_and_rejects_other_families() {
        let mut json = serde_json::to_value(Qwen3Config::qwen3_4b()).unwrap();
        json["use_cache"] = serde_json::json!(true); // unknown keys are fine
        let parsed = Qwen3Config::from_json(&json.to_string()).unwrap();
        assert_eq!(parsed, Qwen3Config::qwen3_4b());
        // Qwen3-4B has about 4.0 B parameters.
        let n = parsed.parameter_count() as f64 / 1e9;
        assert!((3.9..4.1).contains(&n), "{n}");

        json["architectures"] = serde_json::json!(["LlamaForCausalLM"]);
        json["model_type"] = serde_json::json!("llama");
        let err = Qwen3Config::from_json(&json.to_string()).unwrap_err();
        assert!(matches!(err, PolicyError::UnsupportedArchitecture { .. }));
        assert!(err.to_string().contains("LlamaForCausalLM"), "{err}");
    }
}
