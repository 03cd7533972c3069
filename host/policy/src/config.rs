//! The architecture description: the fields of a Hugging Face `config.json`
//! that shape the network, plus the presets this project uses (the built-in
//! tiny model and the Qwen3 shapes for benchmarks).
//!
//! One decoder serves three families, which differ only in a few switches
//! ([`Architecture`]):
//!
//! | `model_type` | q/k RMSNorm | q/k/v bias | o bias | rotary |
//! |---|---|---|---|---|
//! | `qwen3` | yes | `attention_bias` | `attention_bias` | plain |
//! | `qwen2` (Qwen2, Qwen2.5) | no | always | never | plain |
//! | `llama` (Llama 3, 3.1, 3.2) | no | `attention_bias` | `attention_bias` | plain or `llama3` scaling |
//!
//! Rotary settings are read from both spellings Hugging Face has used: the
//! top-level `rope_theta` + `rope_scaling` of transformers 4, and the
//! `rope_parameters` object transformers 5 writes. Any other `model_type`,
//! or a switch this decoder does not implement (sliding windows, another rope
//! type), is an error naming what is supported, not a shape mismatch deep in
//! loading.

use serde::{Deserialize, Serialize};

use crate::PolicyError;

/// The model families the decoder implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Qwen3,
    Qwen2,
    Llama,
}

impl Architecture {
    /// Every supported family as `model_type (ArchitectureClass)`.
    pub const SUPPORTED: &'static str =
        "qwen3 (Qwen3ForCausalLM), qwen2 (Qwen2ForCausalLM), llama (LlamaForCausalLM)";

    /// The family of a `model_type` (or, when that is empty, of an
    /// `architectures` class name).
    pub fn from_names(model_type: &str, architectures: &[String]) -> Option<Self> {
        let by_type = match model_type {
            "qwen3" => Some(Architecture::Qwen3),
            "qwen2" => Some(Architecture::Qwen2),
            "llama" => Some(Architecture::Llama),
            _ => None,
        };
        let by_class = |a: &String| match a.as_str() {
            "Qwen3ForCausalLM" => Some(Architecture::Qwen3),
            "Qwen2ForCausalLM" => Some(Architecture::Qwen2),
            "LlamaForCausalLM" => Some(Architecture::Llama),
            _ => None,
        };
        if model_type.is_empty() {
            return architectures.iter().find_map(by_class);
        }
        let arch = by_type?;
        // A class name of another family contradicts the model_type.
        let consistent =
            architectures.is_empty() || architectures.iter().any(|a| by_class(a) == Some(arch));
        consistent.then_some(arch)
    }

    /// Qwen3 normalises queries and keys per head before the rotary embedding.
    pub fn has_qk_norm(self) -> bool {
        self == Architecture::Qwen3
    }
}

/// Rotary-embedding parameters: `rope_parameters` (transformers 5) or
/// `rope_scaling` (transformers 4), one shape for both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeParameters {
    /// `default` (or absent) or `llama3`.
    #[serde(default, alias = "type", skip_serializing_if = "Option::is_none")]
    pub rope_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_freq_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_freq_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_max_position_embeddings: Option<usize>,
}

/// How rotary frequencies are derived from `rope_theta`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RopeScaling {
    /// `theta^(-2i/d)` unchanged.
    Default,
    /// Llama 3's frequency-dependent stretch: long wavelengths divided by
    /// `factor`, short ones kept, a smooth blend between.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: usize,
    },
}

/// `eos_token_id` is a single id in most configs and a list in Llama 3's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    One(u32),
    Many(Vec<u32>),
}

impl TokenIds {
    pub fn ids(&self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![*id],
            TokenIds::Many(ids) => ids.clone(),
        }
    }
}

/// The `config.json` of a supported causal language model (the name is
/// historical: Qwen3 came first; [`Qwen3Config::architecture`] says which
/// family it is).
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
    /// Absent in some Llama configs: then every head has its own keys.
    #[serde(default)]
    pub num_key_value_heads: usize,
    /// Qwen3 decouples the head size from `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    pub max_position_embeddings: usize,
    /// The rotary base (transformers 4 spelling; see [`Qwen3Config::rope`]).
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<RopeParameters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<RopeParameters>,
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub attention_bias: bool,
    /// Llama's biases on the MLP projections.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mlp_bias: bool,
    /// Qwen2's sliding-window attention (not implemented; must be off).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub use_sliding_window: bool,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    #[serde(default)]
    pub torch_dtype: Option<String>,
}

fn default_rope_theta() -> f64 {
    // transformers' default for all three families when the key is absent.
    10_000.0
}
fn default_rms_norm_eps() -> f64 {
    1e-6
}
fn default_hidden_act() -> String {
    "silu".into()
}

impl Qwen3Config {
    /// Parses a `config.json` text and checks that it describes a supported
    /// model.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        let mut config: Qwen3Config = serde_json::from_str(text)
            .map_err(|e| PolicyError::Model(format!("config.json is not a valid config: {e}")))?;
        if config.num_key_value_heads == 0 {
            config.num_key_value_heads = config.num_attention_heads;
        }
        config.check_architecture()?;
        config.check_shapes()?;
        config.rope()?;
        Ok(config)
    }

    /// The model family; an error names the supported ones.
    pub fn architecture(&self) -> Result<Architecture, PolicyError> {
        Architecture::from_names(&self.model_type, &self.architectures).ok_or_else(|| {
            PolicyError::UnsupportedArchitecture {
                architectures: self.architectures.clone(),
                model_type: self.model_type.clone(),
            }
        })
    }

    /// Rejects configs of other model families and switches this decoder
    /// does not implement.
    pub fn check_architecture(&self) -> Result<(), PolicyError> {
        let arch = self.architecture()?;
        if self.hidden_act != "silu" {
            return Err(PolicyError::Model(format!(
                "config.json: hidden_act {:?} is not supported (these families use \"silu\")",
                self.hidden_act
            )));
        }
        if self.use_sliding_window {
            return Err(PolicyError::Model(
                "config.json: use_sliding_window is true; sliding-window attention is not \
                 implemented (set it to false for contexts within the window)"
                    .into(),
            ));
        }
        if self.mlp_bias && arch != Architecture::Llama {
            return Err(PolicyError::Model(
                "config.json: mlp_bias is a Llama option".into(),
            ));
        }
        Ok(())
    }

    /// The rotary base and scaling, from `rope_parameters` if present, else
    /// from `rope_theta` and `rope_scaling`.
    pub fn rope(&self) -> Result<(f64, RopeScaling), PolicyError> {
        let params = self.rope_parameters.as_ref().or(self.rope_scaling.as_ref());
        let theta = self
            .rope_parameters
            .as_ref()
            .and_then(|p| p.rope_theta)
            .unwrap_or(self.rope_theta);
        let Some(p) = params else {
            return Ok((theta, RopeScaling::Default));
        };
        let bad = |what: &str| {
            Err(PolicyError::Model(format!(
                "config.json: rope parameters: {what}"
            )))
        };
        match p.rope_type.as_deref().unwrap_or("default") {
            "default" => Ok((theta, RopeScaling::Default)),
            "llama3" => {
                let (Some(factor), Some(low), Some(high), Some(original)) = (
                    p.factor,
                    p.low_freq_factor,
                    p.high_freq_factor,
                    p.original_max_position_embeddings,
                ) else {
                    return bad(
                        "llama3 needs factor, low_freq_factor, high_freq_factor and \
                         original_max_position_embeddings",
                    );
                };
                if factor <= 0.0 || high <= low || original == 0 {
                    return bad("llama3 needs factor > 0, high_freq_factor > low_freq_factor");
                }
                Ok((
                    theta,
                    RopeScaling::Llama3 {
                        factor,
                        low_freq_factor: low,
                        high_freq_factor: high,
                        original_max_position_embeddings: original,
                    },
                ))
            }
            other => bad(&format!(
                "rope_type {other:?} is not supported; supported: default, llama3"
            )),
        }
    }

    /// Whether the q/k/v projections carry biases.
    pub fn qkv_bias(&self) -> bool {
        match self.architecture() {
            Ok(Architecture::Qwen2) => true,
            _ => self.attention_bias,
        }
    }

    /// Whether the output projection carries a bias.
    pub fn o_bias(&self) -> bool {
        match self.architecture() {
            Ok(Architecture::Qwen2) => false,
            _ => self.attention_bias,
        }
    }

    /// Whether queries and keys are RMS-normalised per head (Qwen3).
    pub fn qk_norm(&self) -> bool {
        self.architecture().is_ok_and(Architecture::has_qk_norm)
    }

    /// The end-of-sequence ids the config names (none, one, or a list).
    pub fn eos_ids(&self) -> Vec<u32> {
        self.eos_token_id
            .as_ref()
            .map(TokenIds::ids)
            .unwrap_or_default()
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
            rope_scaling: None,
            rope_parameters: None,
            rms_norm_eps: 1e-6,
            tie_word_embeddings: true,
            attention_bias: false,
            mlp_bias: false,
            use_sliding_window: false,
            hidden_act: "silu".into(),
            bos_token_id: Some(151_643),
            eos_token_id: Some(TokenIds::One(151_645)),
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
        let norms = if self.qk_norm() { 2 * hd } else { 0 };
        let attn = h * q + 2 * h * kv + q * h + norms;
        let bias = usize::from(self.qkv_bias()) * (q + 2 * kv) + usize::from(self.o_bias()) * h;
        let mlp_bias = usize::from(self.mlp_bias) * (2 * self.intermediate_size + h);
        let mlp = 3 * h * self.intermediate_size + mlp_bias;
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

        json["architectures"] = serde_json::json!(["MistralForCausalLM"]);
        json["model_type"] = serde_json::json!("mistral");
        let err = Qwen3Config::from_json(&json.to_string()).unwrap_err();
        assert!(matches!(err, PolicyError::UnsupportedArchitecture { .. }));
        let line = err.to_string();
        assert!(line.contains("mistral") && !line.contains('\n'), "{line}");
        assert!(line.contains(Architecture::SUPPORTED), "{line}");

        // A class name of another family contradicts the model_type.
        json["architectures"] = serde_json::json!(["LlamaForCausalLM"]);
        json["model_type"] = serde_json::json!("qwen3");
        assert!(Qwen3Config::from_json(&json.to_string()).is_err());
    }

    #[test]
    fn reads_rope_settings_in_both_transformers_spellings() {
        let mut json = serde_json::to_value(Qwen3Config::qwen3_0_6b()).unwrap();
        json["architectures"] = serde_json::json!(["LlamaForCausalLM"]);
        json["model_type"] = serde_json::json!("llama");
        json["eos_token_id"] = serde_json::json!([128001, 128008, 128009]);
        let llama3 = serde_json::json!({
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192
        });
        // transformers 4: top-level rope_theta, rope_scaling.
        json["rope_theta"] = serde_json::json!(500000.0);
        json["rope_scaling"] = llama3.clone();
        let v4 = Qwen3Config::from_json(&json.to_string()).unwrap();
        // transformers 5: everything in rope_parameters.
        let mut v5 = json.clone();
        v5.as_object_mut().unwrap().remove("rope_theta");
        v5.as_object_mut().unwrap().remove("rope_scaling");
        let mut params = llama3;
        params["rope_theta"] = serde_json::json!(500000.0);
        v5["rope_parameters"] = params;
        let v5 = Qwen3Config::from_json(&v5.to_string()).unwrap();
        assert_eq!(v4.rope().unwrap(), v5.rope().unwrap());
        assert_eq!(v4.rope().unwrap().0, 500000.0);
        assert!(matches!(
            v4.rope().unwrap().1,
            RopeScaling::Llama3 { factor: 8.0, .. }
        ));
        assert_eq!(v4.eos_ids(), vec![128001, 128008, 128009]);
        assert_eq!(v4.architecture().unwrap(), Architecture::Llama);
        assert!(!v4.qk_norm());

        json["rope_scaling"] = serde_json::json!({"rope_type": "yarn", "factor": 4.0});
        let err = Qwen3Config::from_json(&json.to_string()).unwrap_err();
        assert!(err.to_string().contains("yarn"), "{err}");
    }

    #[test]
    fn qwen2_has_qkv_biases_and_no_qk_norm() {
        let mut c = Qwen3Config::qwen3_0_6b();
        c.model_type = "qwen2".into();
        c.architectures = vec!["Qwen2ForCausalLM".into()];
        assert_eq!(c.architecture().unwrap(), Architecture::Qwen2);
        assert!(c.qkv_bias() && !c.o_bias() && !c.qk_norm());
    }
}
