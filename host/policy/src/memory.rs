//! A memory plan: what a training run will hold on its device, estimated
//! before any weight is loaded, so that a run that cannot fit is refused with
//! one line instead of failing an hour in.
//!
//! The estimate adds up, in bytes:
//! - **weights** in the model dtype;
//! - **gradients** of the trainable parameters (in their dtype: the model's
//!   for full fine-tuning, f32 for LoRA factors);
//! - **optimizer**: AdamW's two f32 moments per trainable parameter, plus the
//!   f32 master copies of half-precision weights ([`crate::optim`]);
//! - **activations** the training forward keeps for the backward pass, per
//!   micro-batch: per token and layer the projections, norms and MLP
//!   intermediates, plus the attention scores and probabilities
//!   (`rows × heads × L²` twice) — and the f32 logits of response tokens.
//!   With **activation checkpointing** ([`crate::activation_checkpoint`])
//!   only every layer's input is kept, plus one layer's full activations
//!   while that layer is recomputed in backward;
//! - **KV cache** of the rollout: keys and values of every layer for every
//!   generating row at prompt + `max_new_tokens`, plus the prefill's
//!   transient buffers.
//!
//! Rollouts and updates alternate, so the peak is weights plus optimizer
//! state plus the larger of (gradients + activations) and (KV cache +
//! generation buffers). The figures are estimates (allocator slack, fragmentation and
//! the framework's own workspace come on top), hence [`HEADROOM`].
//!
//! [`Checkpointing::Auto`] (the default) turns checkpointing on exactly when
//! the plan without it does not fit: recomputing costs about one more forward
//! per step, so a run that fits keeps its activations.

use candle_core::{DType, Device};
use serde::{Deserialize, Serialize};

use crate::PolicyError;
use crate::attention::DEFAULT_SCORE_BUDGET;
use crate::config::Qwen3Config;
use crate::model::expected_tensors;

/// The share of the device's memory a plan may use.
pub const HEADROOM: f64 = 0.9;

const GIB: f64 = (1u64 << 30) as f64;

/// What the run trains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlanMode {
    Full,
    /// LoRA of `rank` on every attention and MLP projection.
    Lora {
        rank: usize,
    },
}

/// Whether the training forward recomputes decoder layers in backward.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Checkpointing {
    /// On when the plan does not fit without it.
    #[default]
    Auto,
    On,
    Off,
}

impl std::str::FromStr for Checkpointing {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Checkpointing::Auto),
            "on" => Ok(Checkpointing::On),
            "off" => Ok(Checkpointing::Off),
            other => Err(format!(
                "activation checkpointing {other:?}: use auto, on or off"
            )),
        }
    }
}

/// The shape of a run.
#[derive(Debug, Clone)]
pub struct PlanInput {
    pub config: Qwen3Config,
    pub dtype: DType,
    pub mode: PlanMode,
    /// Rows in one training micro-batch.
    pub micro_batch: usize,
    /// Prompt + response tokens of a training row.
    pub train_tokens: usize,
    /// Response tokens of a training row (projected to the vocabulary).
    pub response_tokens: usize,
    /// Rows generating at once in a rollout.
    pub generation_rows: usize,
    /// Prompt + `max_new_tokens` of a generating row.
    pub generation_tokens: usize,
    /// Rows × prompt tokens one prefill group processes.
    pub prefill_token_budget: usize,
    /// The training attention keeps one probability tensor in causal
    /// blocks (the CPU kernel, [`crate::attention`]) rather than the composed
    /// ops' scores and probabilities over every query and key.
    pub fused_attention: bool,
}

/// The estimate, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPlan {
    pub weights: u64,
    pub gradients: u64,
    pub optimizer: u64,
    pub activations: u64,
    pub kv_cache: u64,
    /// The activations assume decoder layers recomputed in backward.
    pub checkpointing: bool,
}

fn bytes(dtype: DType) -> u64 {
    dtype.size_in_bytes() as u64
}

/// Parameters of `config`, and of LoRA factors of `rank` on it.
fn parameter_counts(config: &Qwen3Config, rank: usize) -> (u64, u64) {
    let mut all = 0u64;
    let mut lora = 0u64;
    for (name, shape) in expected_tensors(config) {
        let n: usize = shape.iter().product();
        all += n as u64;
        if name.ends_with("proj.weight") && shape.len() == 2 {
            lora += (rank * (shape[0] + shape[1])) as u64;
        }
    }
    (all, lora)
}

impl MemoryPlan {
    /// Estimates the plan of `input` without activation checkpointing.
    pub fn estimate(input: &PlanInput) -> Self {
        Self::estimate_with(input, false)
    }

    /// Estimates the plan of `input`, with decoder layers recomputed in
    /// backward when `checkpointing`.
    pub fn estimate_with(input: &PlanInput, checkpointing: bool) -> Self {
        let c = &input.config;
        let wb = bytes(input.dtype);
        let (params, lora) = parameter_counts(
            c,
            match input.mode {
                PlanMode::Lora { rank } => rank,
                PlanMode::Full => 0,
            },
        );
        let weights = params * wb;
        let (gradients, optimizer) = match input.mode {
            PlanMode::Full => {
                let masters = if wb < 4 { params * 4 } else { 0 };
                (params * wb, params * 8 + masters)
            }
            PlanMode::Lora { .. } => (lora * 4, lora * 8),
        };
        let activations = training_activations(input, checkpointing);
        let kv_cache = generation_memory(input);
        MemoryPlan {
            weights,
            gradients,
            optimizer,
            activations,
            kv_cache,
            checkpointing,
        }
    }

    /// The peak over a rollout and an update.
    pub fn peak(&self) -> u64 {
        self.weights + self.optimizer + (self.gradients + self.activations).max(self.kv_cache)
    }

    /// One line for people: every part in GiB.
    pub fn summary(&self) -> String {
        let g = |b: u64| b as f64 / GIB;
        format!(
            "peak {:.2} GiB = weights {:.2} + optimizer {:.2} + max(gradients {:.2} + activations {:.2}, KV cache {:.2}); activation checkpointing {}",
            g(self.peak()),
            g(self.weights),
            g(self.optimizer),
            g(self.gradients),
            g(self.activations),
            g(self.kv_cache),
            if self.checkpointing { "on" } else { "off" }
        )
    }

    /// Whether the peak is within [`HEADROOM`] of `available` bytes.
    pub fn fits(&self, available: u64) -> bool {
        self.peak() <= (available as f64 * HEADROOM) as u64
    }

    /// Refuses a plan whose peak exceeds [`HEADROOM`] of `available` bytes,
    /// naming what to change.
    pub fn check(
        &self,
        input: &PlanInput,
        available: u64,
        where_: &str,
    ) -> Result<(), PolicyError> {
        if self.fits(available) {
            return Ok(());
        }
        Err(PolicyError::MemoryPlan(format!(
            "needs {:.1} GiB but {where_} has {:.1} GiB ({:.0} % usable): {}; {}",
            self.peak() as f64 / GIB,
            available as f64 / GIB,
            HEADROOM * 100.0,
            self.summary(),
            self.advice(input)
        )))
    }

    /// What to change, largest part first.
    fn advice(&self, input: &PlanInput) -> String {
        let mut parts = vec![
            (
                self.optimizer + self.gradients,
                "train LoRA instead of every weight",
            ),
            (
                self.activations,
                if self.checkpointing {
                    "lower optim.micro_batch or the prompt/response lengths"
                } else {
                    "turn on activation checkpointing (--activation-checkpointing auto), or lower optim.micro_batch or the prompt/response lengths"
                },
            ),
            (
                self.kv_cache,
                "lower schedule.tasks_per_step, trial.group_size or lengths.max_new_tokens",
            ),
            (self.weights, "use a smaller model or --dtype bf16"),
        ];
        if input.mode != PlanMode::Full {
            parts.remove(0);
        }
        if input.dtype != DType::F32 {
            parts.retain(|(_, a)| !a.ends_with("bf16"));
        }
        parts.sort_by_key(|p| std::cmp::Reverse(p.0));
        format!("try: {}", parts.first().map_or("a larger device", |p| p.1))
    }
}

/// The plan `setting` chooses on a device with `available` bytes (unknown:
/// auto keeps the activations).
pub fn choose_plan(
    input: &PlanInput,
    setting: Checkpointing,
    available: Option<u64>,
) -> MemoryPlan {
    match setting {
        Checkpointing::On => MemoryPlan::estimate_with(input, true),
        Checkpointing::Off => MemoryPlan::estimate(input),
        Checkpointing::Auto => {
            let kept = MemoryPlan::estimate(input);
            match available {
                Some(bytes) if !kept.fits(bytes) => MemoryPlan::estimate_with(input, true),
                _ => kept,
            }
        }
    }
}

/// What the training forward keeps for backward, for one micro-batch: every
/// layer's activations, or with `checkpointing` every layer's input and one
/// layer's activations (the one being recomputed).
fn training_activations(input: &PlanInput, checkpointing: bool) -> u64 {
    let c = &input.config;
    let wb = bytes(input.dtype);
    let (h, i) = (c.hidden_size as u64, c.intermediate_size as u64);
    let q = (c.num_attention_heads * c.head_dim()) as u64;
    let kv = (c.num_key_value_heads * c.head_dim()) as u64;
    let rows = input.micro_batch as u64;
    let l = input.train_tokens as u64;
    // Norm inputs/outputs, residuals, q/k/v before and after norm and RoPE,
    // the attention context, o_proj, and gate/up/SiLU/product/down.
    let per_token = 6 * h + 3 * q + 4 * kv + 4 * i;
    let score_elements = if input.fused_attention {
        crate::attention::causal_score_elements(input.train_tokens, input.train_tokens) as u64
    } else {
        2 * l * l
    };
    let scores = rows * c.num_attention_heads as u64 * score_elements;
    let per_layer = (rows * l * per_token + scores) * wb;
    // f32 logits, log-softmax and its exp for the entropy.
    let logits = rows * input.response_tokens as u64 * c.vocab_size as u64 * 4 * 3;
    let layers = c.num_hidden_layers as u64;
    if checkpointing {
        let inputs = layers * rows * l * h * wb;
        inputs + per_layer + logits
    } else {
        per_layer * layers + logits
    }
}

/// The KV cache of a rollout and the prefill's transient buffers.
fn generation_memory(input: &PlanInput) -> u64 {
    let c = &input.config;
    let wb = bytes(input.dtype);
    let kv = (c.num_key_value_heads * c.head_dim()) as u64;
    let rows = input.generation_rows as u64;
    let cache = 2 * c.num_hidden_layers as u64 * rows * input.generation_tokens as u64 * kv * wb;
    let (h, i) = (c.hidden_size as u64, c.intermediate_size as u64);
    let prefill =
        input.prefill_token_budget as u64 * (4 * h + 3 * i) * wb + DEFAULT_SCORE_BUDGET as u64 * 4;
    let logits = rows * c.vocab_size as u64 * 4 * 4;
    cache + prefill + logits
}

/// Chooses the plan of `input` for `setting` (see [`choose_plan`]) and checks
/// it against `device`'s memory.
///
/// On a GPU a plan that does not fit is refused (the error is the one line to
/// show). On the CPU the estimate is only reported: its activations assume
/// every row at the recipe's longest prompt and response, a bound that small
/// CPU runs (whose real rows are far shorter) exceed without harm, and the
/// host's memory is not the accelerator's hard limit. Returns the plan and,
/// on the CPU, the refusal it would have been.
pub fn check_plan(
    input: &PlanInput,
    setting: Checkpointing,
    device: &Device,
) -> Result<(MemoryPlan, Option<String>), PolicyError> {
    let available = device_memory(device);
    let plan = choose_plan(input, setting, available);
    let Some(available) = available else {
        return Ok((plan, None));
    };
    match plan.check(input, available, &device_name(device)) {
        Ok(()) => Ok((plan, None)),
        Err(e) if device.is_cpu() => Ok((plan, Some(e.to_string()))),
        Err(e) => Err(e),
    }
}

/// `cpu` or `cuda:N`.
pub fn device_name(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        other => format!("{other:?}"),
    }
}

/// The memory a run on `device` may use, in bytes: the free memory of a CUDA
/// device (as `nvidia-smi` reports it), or the available memory of this
/// machine for the CPU. `None` when it cannot be read.
pub fn device_memory(device: &Device) -> Option<u64> {
    match device {
        Device::Cpu => cpu_available(),
        Device::Cuda(_) => cuda_free(device_ordinal(device)),
        _ => None,
    }
}

fn device_ordinal(device: &Device) -> usize {
    match device.location() {
        candle_core::DeviceLocation::Cuda { gpu_id } => gpu_id,
        _ => 0,
    }
}

/// `MemAvailable` of `/proc/meminfo`.
fn cpu_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text)
}

/// `MemAvailable` (kB) of a `/proc/meminfo` text, in bytes.
pub fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn cuda_free(ordinal: usize) -> Option<u64> {
    let out = std::process::Command::new("nvidia-smi")
        .args([
            &format!("--id={ordinal}"),
            "--query-gpu=memory.free",
            "--format=csv,noheader,nounits",
        ])
        .output()
        .ok()?;
    let mib: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(mib << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qwen3_4b_full() -> PlanInput {
        PlanInput {
            config: Qwen3Config::qwen3_4b(),
            dtype: DType::BF16,
            mode: PlanMode::Full,
            micro_batch: 4,
            train_tokens: 4096,
            response_tokens: 1024,
            generation_rows: 128,
            generation_tokens: 4096,
            prefill_token_budget: 16_384,
            fused_attention: false,
        }
    }

    #[test]
    fn the_fused_cpu_attention_keeps_fewer_scores() {
        let composed = qwen3_4b_full();
        let fused = PlanInput {
            fused_attention: true,
            ..qwen3_4b_full()
        };
        let (a, b) = (
            training_activations(&composed, false),
            training_activations(&fused, false),
        );
        // One probability tensor over 5/8 of the (query, key) pairs instead
        // of two over all of them: the score part shrinks by 5/16.
        let c = &composed.config;
        let per_layer_scores = |factor: f64| {
            (factor * 4.0 * c.num_attention_heads as f64 * 4096.0 * 4096.0 * 2.0) as u64
        };
        let layers = c.num_hidden_layers as u64;
        assert_eq!(
            a - b,
            layers * (per_layer_scores(2.0) - per_layer_scores(0.625))
        );
    }

    #[test]
    fn full_bf16_qwen3_4b_counts_weights_masters_and_moments() {
        let plan = MemoryPlan::estimate(&qwen3_4b_full());
        let params = parameter_counts(&Qwen3Config::qwen3_4b(), 0).0;
        assert!(params > 3_900_000_000 && params < 4_100_000_000, "{params}");
        assert_eq!(plan.weights, params * 2);
        assert_eq!(plan.gradients, params * 2);
        assert_eq!(
            plan.optimizer,
            params * 12,
            "two moments + a master, all f32"
        );
    }

    #[test]
    fn an_impossible_plan_is_refused_with_one_line_that_says_what_to_change() {
        let input = qwen3_4b_full();
        let plan = MemoryPlan::estimate(&input);
        let err = plan
            .check(&input, 80 << 30, "cuda:0")
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains("cuda:0 has 80.0 GiB"), "{err}");
        assert!(err.contains("try: "), "{err}");
        // LoRA with a small micro-batch fits the same card.
        let mut lora = input.clone();
        lora.mode = PlanMode::Lora { rank: 16 };
        lora.micro_batch = 1;
        lora.train_tokens = 2048;
        lora.response_tokens = 512;
        lora.generation_tokens = 2048;
        let plan = MemoryPlan::estimate(&lora);
        assert!(plan.optimizer < 1 << 30);
        plan.check(&lora, 80 << 30, "cuda:0").unwrap();
    }

    /// LoRA on Qwen3-4B with long rows: activations dominate.
    fn long_rows() -> PlanInput {
        PlanInput {
            mode: PlanMode::Lora { rank: 16 },
            micro_batch: 8,
            train_tokens: 8192,
            generation_rows: 16,
            ..qwen3_4b_full()
        }
    }

    /// Bytes for which a plan of `peak` bytes is exactly at the limit.
    fn device_for(peak: u64) -> u64 {
        (peak as f64 / HEADROOM).ceil() as u64 + 1
    }

    #[test]
    fn checkpointing_keeps_layer_inputs_and_one_layer() {
        let input = long_rows();
        let kept = MemoryPlan::estimate(&input);
        let recomputed = MemoryPlan::estimate_with(&input, true);
        assert!(!kept.checkpointing && recomputed.checkpointing);
        assert!(recomputed.activations * 10 < kept.activations);
        let layers = input.config.num_hidden_layers as u64;
        let per_layer_inputs = 8 * 8192 * input.config.hidden_size as u64 * 2;
        assert!(recomputed.activations > layers * per_layer_inputs);
        assert_eq!(kept.weights, recomputed.weights);
    }

    #[test]
    fn auto_turns_checkpointing_on_only_when_the_plan_does_not_fit_without_it() {
        let input = long_rows();
        let kept = MemoryPlan::estimate(&input).peak();
        let recomputed = MemoryPlan::estimate_with(&input, true).peak();
        let roomy = device_for(kept);
        assert!(!choose_plan(&input, Checkpointing::Auto, Some(roomy)).checkpointing);
        assert!(!choose_plan(&input, Checkpointing::Auto, None).checkpointing);
        let tight = device_for((kept + recomputed) / 2);
        let plan = choose_plan(&input, Checkpointing::Auto, Some(tight));
        assert!(plan.checkpointing);
        plan.check(&input, tight, "cuda:0").unwrap();
        assert!(plan.summary().ends_with("activation checkpointing on"));
        // Forced settings are obeyed either way.
        assert!(choose_plan(&input, Checkpointing::On, Some(roomy)).checkpointing);
        let off = choose_plan(&input, Checkpointing::Off, Some(tight));
        assert!(!off.checkpointing);
        let err = off.check(&input, tight, "cuda:0").unwrap_err().to_string();
        assert!(
            err.contains("try: turn on activation checkpointing"),
            "{err}"
        );
    }

    #[test]
    fn a_plan_that_fits_neither_way_is_refused_with_what_to_change() {
        let input = long_rows();
        let small = device_for(MemoryPlan::estimate_with(&input, true).peak()) / 2;
        let plan = choose_plan(&input, Checkpointing::Auto, Some(small));
        assert!(plan.checkpointing, "auto still saves what it can");
        let err = plan.check(&input, small, "cuda:0").unwrap_err().to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains("activation checkpointing on; try: "), "{err}");
        assert!(!err.contains("turn on activation checkpointing"), "{err}");
    }

    #[test]
    fn checkpointing_settings_parse() {
        assert_eq!("auto".parse(), Ok(Checkpointing::Auto));
        assert_eq!("off".parse(), Ok(Checkpointing::Off));
        assert!(
            "yes"
                .parse::<Checkpointing>()
                .unwrap_err()
                .contains("auto, on or off")
        );
    }

    #[test]
    fn meminfo_parses() {
        let text = "MemTotal:  24000000 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(parse_meminfo(text), Some(2048 * 1024));
        assert_eq!(parse_meminfo("MemTotal: 1 kB"), None);
    }
}
