//! Throughput measurements of the policy: prefill and decode tokens/s at
//! several batch sizes, and the time of one training micro-step
//! (forward + backward + clip + AdamW), for LoRA and full fine-tuning.
//!
//! Used by `cargo run --release -p lamer-policy --example bench` (and the
//! CLI). Models are random-initialised: speed does not depend on the values.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};

use crate::config::Qwen3Config;
use crate::error::Result;
use crate::generation::{GenerationConfig, GenerationInput, generate};
use crate::lora::LoraConfig;
use crate::model::{Pass, Qwen3Model, causal_padding_mask};
use crate::optim::{AdamW, AdamWConfig, clip_grad_norm};
use crate::scoring::{ScoreRow, score_tokens};
use crate::trainable::{TrainMode, TrainableParams};
use crate::{PolicyError, SamplingParams};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub config: Qwen3Config,
    pub device: Device,
    pub dtype: DType,
    /// Batch sizes for prefill and decode.
    pub batch_sizes: Vec<usize>,
    pub prompt_len: usize,
    pub decode_tokens: usize,
    /// Training micro-batch: rows × (prompt + response) tokens.
    pub train_rows: usize,
    pub train_prompt_len: usize,
    pub train_response_len: usize,
    /// Which training modes to time (empty: none).
    pub train_modes: Vec<TrainMode>,
    /// Timed repetitions (the best is reported).
    pub repeats: usize,
    /// Recompute decoder layers in backward during the training micro-step
    /// ([`crate::activation_checkpoint`]).
    pub activation_checkpointing: bool,
    /// Load these weights (a Hugging Face model directory) instead of drawing
    /// random ones, e.g. to run the same weights as another framework.
    pub model_dir: Option<std::path::PathBuf>,
}

impl BenchOptions {
    /// The defaults for a config: batches 1 and 32, 256-token prompts,
    /// 32 decode steps, a 4-row training micro-batch with LoRA and full.
    pub fn new(config: Qwen3Config, device: Device, dtype: DType) -> Self {
        BenchOptions {
            config,
            device,
            dtype,
            batch_sizes: vec![1, 32],
            prompt_len: 256,
            decode_tokens: 32,
            train_rows: 4,
            train_prompt_len: 256,
            train_response_len: 64,
            train_modes: vec![TrainMode::Lora(LoraConfig::default()), TrainMode::Full],
            repeats: 2,
            activation_checkpointing: false,
            model_dir: None,
        }
    }
}

/// One measured figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
}

impl std::fmt::Display for Measurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "| {} | {:.2} {} |", self.name, self.value, self.unit)
    }
}

/// Random weights for `config` (~ N(0, 0.02), norms 1), drawn on the device
/// (fast even for billions of parameters).
pub fn random_tensors(
    config: &Qwen3Config,
    device: &Device,
    dtype: DType,
) -> Result<HashMap<String, Tensor>> {
    if !device.is_cpu() {
        device.set_seed(0)?;
    }
    let mut tensors = HashMap::new();
    for (name, shape) in crate::model::expected_tensors(config) {
        let t = if name.ends_with("norm.weight") {
            Tensor::ones(shape, dtype, device)?
        } else {
            Tensor::randn(0f32, 0.02f32, shape, device)?.to_dtype(dtype)?
        };
        tensors.insert(name, t);
    }
    Ok(tensors)
}

/// A random-initialised model of `config` (see [`random_tensors`]).
pub fn random_model(config: &Qwen3Config, device: &Device, dtype: DType) -> Result<Qwen3Model> {
    let tensors = random_tensors(config, device, dtype)?;
    let vb = candle_nn::VarBuilder::from_tensors(tensors, dtype, device);
    Qwen3Model::new(config, vb)
}

/// Writes a random model of `config` as a Hugging Face model directory in
/// `dtype`, with the built-in tiny model's tokenizer, so that another
/// framework (transformers) and our CLI can load the very same weights.
///
/// The tokenizer is smaller than a real config's vocabulary; that is fine
/// for a random model (ids past the tokenizer decode to nothing). The
/// config's bos/eos ids are dropped because they name tokens the tiny
/// tokenizer does not have: stop tokens then come from its
/// `tokenizer_config.json`, as for the tiny model.
pub fn save_random_model(
    config: &Qwen3Config,
    dir: &Path,
    device: &Device,
    dtype: DType,
) -> Result<()> {
    let tiny = crate::tiny::materialize_default()?;
    let tokenizer_file = tiny.join(crate::loading::TOKENIZER_FILE);
    let tokenizer = tokenizers::Tokenizer::from_file(&tokenizer_file)
        .map_err(|e| PolicyError::Tokenizer(format!("{}: {e}", tokenizer_file.display())))?;
    let mut config = config.clone();
    config.bos_token_id = None;
    config.eos_token_id = None;
    config.torch_dtype = Some(dtype_name(dtype).into());
    let weights = random_tensors(&config, device, dtype)?;
    crate::tiny::write_model_dir(dir, &config, &tokenizer, &weights)
}

/// The `torch_dtype` spelling of a dtype.
fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::BF16 => "bfloat16",
        DType::F16 => "float16",
        _ => "float32",
    }
}

fn best_of<F: FnMut() -> Result<()>>(repeats: usize, mut f: F) -> Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        f()?;
        best = best.min(start.elapsed());
    }
    Ok(best)
}

fn prompts(rows: usize, len: usize, vocab: usize) -> Vec<GenerationInput> {
    (0..rows)
        .map(|r| GenerationInput {
            prompt_ids: (0..len)
                .map(|i| ((i * 31 + r * 7 + 1) % vocab) as u32)
                .collect(),
            seed: r as u64,
        })
        .collect()
}

/// Runs the measurements, calling `report` as each figure becomes known.
pub fn run(
    options: &BenchOptions,
    mut report: impl FnMut(&Measurement),
) -> Result<Vec<Measurement>> {
    let mut out = Vec::new();
    let mut emit = |name: String, value: f64, unit: &'static str| {
        let m = Measurement { name, value, unit };
        report(&m);
        out.push(m);
    };
    let dev = &options.device;
    let model = match &options.model_dir {
        Some(dir) => crate::loading::load_model_dir(dir, dev, options.dtype)?.0,
        None => random_model(&options.config, dev, options.dtype)?,
    };
    let vocab = model.config().vocab_size;
    let l = options.prompt_len;
    for &b in &options.batch_sizes {
        // Prefill: one forward over b × L prompt tokens, cache filled.
        let inputs = prompts(b, l, vocab);
        let ids: Vec<u32> = inputs.iter().flat_map(|i| i.prompt_ids.clone()).collect();
        let ids = Tensor::from_vec(ids, (b, l), dev)?;
        let pos: Vec<u32> = (0..b).flat_map(|_| 0..l as u32).collect();
        let pos = Tensor::from_vec(pos, (b, l), dev)?;
        let mask = causal_padding_mask(&vec![vec![1u8; l]; b], dev)?;
        let t = best_of(options.repeats, || {
            let mut cache = crate::kv_cache::KvCache::new(model.config().num_hidden_layers);
            let h = model.forward_hidden(&ids, &pos, &mask, Some(&mut cache), Pass::Inference)?;
            let last = h.narrow(1, l - 1, 1)?;
            model
                .logits(&last)?
                .to_dtype(DType::F32)?
                .flatten_all()?
                .max(0)?
                .to_scalar::<f32>()?;
            Ok(())
        })?;
        emit(
            format!("prefill, batch {b} × {l} tokens"),
            (b * l) as f64 / t.as_secs_f64(),
            "tok/s",
        );

        // Decode: generate n + 1 tokens minus generate 1 token (= prefill +
        // first sample), greedy with no stop token so every row runs on.
        let n = options.decode_tokens;
        let generate_steps = |steps: usize| -> Result<()> {
            let config = GenerationConfig::new(SamplingParams::greedy(steps), vec![]);
            generate(&model, &inputs, &config).map(|_| ())
        };
        let t1 = best_of(options.repeats, || generate_steps(1))?;
        let tn = best_of(options.repeats, || generate_steps(n + 1))?;
        let decode = tn.saturating_sub(t1).as_secs_f64().max(1e-9);
        emit(
            format!("decode, batch {b} (after a {l}-token prompt)"),
            (b * n) as f64 / decode,
            "tok/s",
        );
    }

    for mode in &options.train_modes {
        let mut model = model.clone();
        model.set_activation_checkpointing(options.activation_checkpointing);
        let params = TrainableParams::new(&mut model, mode.clone(), 0)?;
        let mut opt = AdamW::new(params.named_vars(), AdamWConfig::default())?;
        let vars = params.vars();
        let rows_data: Vec<(Vec<u32>, Vec<u32>)> =
            prompts(options.train_rows, options.train_prompt_len, vocab)
                .into_iter()
                .map(|p| {
                    let resp =
                        p.prompt_ids[..options.train_response_len.min(p.prompt_ids.len())].to_vec();
                    (p.prompt_ids, resp)
                })
                .collect();
        let mut label = match mode {
            TrainMode::Full => "full".to_string(),
            TrainMode::Lora(c) => format!("LoRA r{}", c.rank),
        };
        if options.activation_checkpointing {
            label.push_str(", layers recomputed");
        }
        // The best step, and its split into forward, backward and update.
        let mut phases: Option<[Duration; 3]> = None;
        let t = best_of(options.repeats, || {
            let rows: Vec<ScoreRow> = rows_data
                .iter()
                .map(|(p, r)| ScoreRow {
                    prompt_ids: p,
                    response_ids: r,
                })
                .collect();
            let start = Instant::now();
            let scores = score_tokens(&model, &rows, 1.0, Pass::Train)?;
            let loss = (scores.logprobs.sum_all()? / scores.mask.sum_all()?)?.neg()?;
            dev.synchronize()?;
            let forward = start.elapsed();
            let mut grads = crate::activation_checkpoint::backward(&loss)?;
            dev.synchronize()?;
            let backward = start.elapsed() - forward;
            clip_grad_norm(&mut grads, &vars, 1.0)?;
            opt.step(&grads)?;
            dev.synchronize()?;
            let update = start.elapsed() - forward - backward;
            let total = forward + backward + update;
            if phases.is_none_or(|p| total < p.iter().sum()) {
                phases = Some([forward, backward, update]);
            }
            Ok(())
        })?;
        emit(
            format!(
                "train micro-step ({label}, {} trainable), {} rows × ({}+{}) tokens",
                human(params.parameter_count()),
                options.train_rows,
                options.train_prompt_len,
                options.train_response_len
            ),
            t.as_secs_f64() * 1e3,
            "ms",
        );
        let names = ["forward", "backward", "clip + AdamW"];
        for (phase, time) in names.iter().zip(phases.unwrap_or_default()) {
            emit(
                format!("of which {phase} ({label})"),
                time.as_secs_f64() * 1e3,
                "ms",
            );
        }
    }
    if let Some(peak) = peak_rss_bytes() {
        emit(
            "process peak RSS".into(),
            peak as f64 / (1u64 << 30) as f64,
            "GiB",
        );
    }
    Ok(out)
}

fn human(n: usize) -> String {
    if n >= 1_000_000_000 {
        format!("{:.2} B", n as f64 / 1e9)
    } else if n >= 1_000_000 {
        format!("{:.1} M", n as f64 / 1e6)
    } else {
        format!("{:.1} k", n as f64 / 1e3)
    }
}

/// The process's peak resident memory (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Named bench configs: `tiny`, `qwen3-0.6b`, `qwen3-4b`.
pub fn named_config(name: &str) -> Result<Qwen3Config> {
    match name {
        "tiny" => {
            let dir = crate::tiny::materialize_default()?;
            crate::loading::ModelFiles::locate(&dir)?.read_config()
        }
        "qwen3-0.6b" => Ok(Qwen3Config::qwen3_0_6b()),
        "qwen3-4b" => Ok(Qwen3Config::qwen3_4b()),
        other => Err(PolicyError::Model(format!(
            "unknown bench config {other:?}; use tiny, qwen3-0.6b or qwen3-4b"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_random_model_loads_back_with_its_shape_and_dtype() {
        let dir = tempfile::tempdir().unwrap();
        let config = Qwen3Config::test_tiny(2048);
        save_random_model(&config, dir.path(), &Device::Cpu, DType::BF16).unwrap();
        let saved = crate::loading::ModelFiles::locate(dir.path())
            .unwrap()
            .read_config()
            .unwrap();
        assert_eq!(saved.hidden_size, config.hidden_size);
        assert_eq!(saved.vocab_size, 2048);
        assert_eq!(saved.torch_dtype.as_deref(), Some("bfloat16"));
        // The tiny tokenizer's stop tokens, not Qwen's ids it does not have.
        assert_eq!(saved.eos_token_id, None);
        let (model, _) =
            crate::loading::load_model_dir(dir.path(), &Device::Cpu, DType::BF16).unwrap();
        assert_eq!(model.config().num_hidden_layers, config.num_hidden_layers);
    }
}
