//! `lamer-host eval`: success per attempt, pass@k and diversity of a policy on
//! held-out tasks of an environment plugin.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use lamer_policy::prefix_sharing::PrefillSharing;
use lamer_policy::{DType, Device, ExpertPolicy, LlmPolicy, ModelSource, Policy, RandomPolicy};
use lamer_policy::{PolicyError, PolicyRequest, PolicyResponse, PolicyUsage, SamplingParams};

use super::openai_args::OpenAiArgs;
use super::plugin_args::PluginArgs;
use crate::agent::{MemoryMode, ParsingTable, ValidityRule};
use crate::eval::{EvalConfig, evaluate, write_outputs};
use crate::rollout::{Phase, RolloutConfig, RolloutObserver, TrialMode, TrialResult};

/// Which policy answers the prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyKind {
    /// A uniformly random admissible action (seeded per request).
    Random,
    /// The environment's oracle action (an upper bound; needs an env with an expert).
    Expert,
    /// A Qwen3 language model (`--model`; the built-in tiny model by default).
    Llm,
    /// A model served by an OpenAI-compatible server (`--base-url`, `--model NAME`).
    Openai,
}

#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub plugin: PluginArgs,

    /// Who plays: a scripted policy or a language model.
    #[arg(long, value_enum, default_value = "llm")]
    pub policy: PolicyKind,

    /// The model for `--policy llm`: a Hugging Face model directory, a hub id,
    /// a run or checkpoint directory of ours, a PEFT adapter directory, or
    /// `tiny` for the built-in tiny model [default: tiny].
    /// For `--policy openai`: the served model's name.
    #[arg(long, value_name = "DIR")]
    pub model: Option<String>,

    #[command(flatten)]
    pub openai: OpenAiArgs,

    /// The same as `--device cuda:0 --dtype bf16`.
    #[arg(long, hide = true)]
    pub cuda: bool,

    /// Device of the LLM policy: `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    pub device: String,

    /// Weights dtype of the LLM policy: f32, bf16 or f16.
    #[arg(long, default_value = "f32")]
    pub dtype: String,

    /// The split of held-out tasks to evaluate on.
    #[arg(long, default_value = "test")]
    pub split: String,

    /// How many tasks to evaluate (tasks `first-task .. first-task + tasks` of the split).
    #[arg(long, default_value_t = 128)]
    pub tasks: u64,

    /// The index of the first task.
    #[arg(long, default_value_t = 0)]
    pub first_task: u64,

    /// Attempts per task (pass@1 ..= pass@attempts are reported).
    #[arg(long, default_value_t = 3)]
    pub attempts: u32,

    /// `reflexion`: reflect after each failed attempt and carry the memory
    /// (LaMer's loop); `carry-over`: no reflection, the history window runs
    /// on from earlier attempts (the official evaluation of RL baselines);
    /// `zero-shot`: clean independent attempts without memory.
    #[arg(long, value_enum, default_value = "reflexion")]
    pub mode: TrialMode,

    /// What later attempts remember of failed ones.
    #[arg(long, value_enum, default_value = "reflection-only")]
    pub memory: MemoryMode,
    /// What counts as an invalid action in the report: `format` (missing or
    /// malformed tags, or an action the environment cannot read; official) or
    /// `env-accepted` (also actions the environment does not admit).
    #[arg(long, value_enum, default_value = "format")]
    pub validity: ValidityRule,

    /// First-attempt samples per task for the trajectory-diversity metric
    /// (entropy of action sequences); 0 skips it.
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub diversity_samples: usize,

    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f32,

    /// Nucleus sampling mass (1 disables it).
    #[arg(long, default_value_t = 0.8)]
    pub top_p: f32,

    /// Keep only the k most likely tokens (0 disables it).
    #[arg(long, default_value_t = 20)]
    pub top_k: usize,

    /// Repetition penalty on tokens already in the prompt or the response
    /// (1 is off; the official LaMer evaluation uses 1.05).
    #[arg(long, default_value_t = 1.05)]
    pub repetition_penalty: f32,
    /// The longest response, in tokens.
    #[arg(long, default_value_t = 1024)]
    pub max_new_tokens: usize,

    /// The run seed; every sampling seed derives from it, so a run is reproducible.
    #[arg(long, default_value_t = 20)]
    pub seed: u64,

    /// Tasks per rollout batch (0 = all at once, as far as `--instance-slots` has room); smaller batches need less
    /// memory and give the same results.
    #[arg(long, default_value_t = 0)]
    pub batch_tasks: usize,

    /// Where to write report.json, trajectories.jsonl and pass_at_k.svg
    /// [default: runs/eval-<env>-<policy>[-<model>]-<mode>-<split>-n<tasks>-k<attempts>-s<seed>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Keep every play prompt in trajectories.jsonl (large; the raw responses,
    /// parsed actions and reflections are always kept).
    #[arg(long)]
    pub record_prompts: bool,
    /// Do not draw progress bars (`--quiet` works too).
    #[arg(long, alias = "quiet")]
    pub no_progress: bool,
}

/// Advances a progress bar per finished trial and names the current batch.
struct Progress(ProgressBar);

impl RolloutObserver for Progress {
    fn on_batch(&mut self, phase: Phase, attempt: u32, turn: u32, size: usize) {
        let what = match phase {
            Phase::Play => format!("attempt {} turn {}", attempt + 1, turn + 1),
            Phase::Reflect => format!("reflect before attempt {}", attempt + 1),
        };
        self.0.set_message(format!("{what}: {size} prompts"));
    }
    fn on_trial_end(&mut self, _trial: &TrialResult) {
        self.0.inc(1);
    }
}

fn load_policy(args: &EvalArgs) -> anyhow::Result<Box<dyn Policy>> {
    Ok(match args.policy {
        PolicyKind::Random => Box::new(RandomPolicy),
        PolicyKind::Expert => Box::new(ExpertPolicy),
        PolicyKind::Llm => {
            let source = ModelSource::parse(args.model.as_deref());
            let (device, dtype) = if args.cuda {
                let device = Device::new_cuda(0)
                    .context("no CUDA device (is this build compiled with the `cuda` feature?)")?;
                (device, DType::BF16)
            } else {
                (
                    lamer_policy::loading::parse_device(&args.device)?,
                    lamer_policy::loading::parse_dtype(&args.dtype)?,
                )
            };
            Box::new(
                LlmPolicy::from_source(&source, &device, dtype).with_context(|| {
                    format!(
                        "cannot load --model {}",
                        args.model.as_deref().unwrap_or("tiny")
                    )
                })?,
            )
        }
        PolicyKind::Openai => Box::new(args.openai.connect(args.model.as_deref())?),
    })
}

/// Runs `lamer-host eval`.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.repetition_penalty.is_finite() && args.repetition_penalty > 0.0,
        "--repetition-penalty must be positive (1 is off), got {}",
        args.repetition_penalty
    );
    let plugin = args.plugin.load()?;
    let env_config = args.plugin.config_json()?;
    let factory: &dyn lamer_plugin::EnvFactory = &plugin;
    let mut policy = load_policy(&args)?;
    let config = EvalConfig {
        split: args.split.clone(),
        first_task: args.first_task,
        tasks: args.tasks,
        batch_tasks: args.batch_tasks,
        diversity_samples: args.diversity_samples,
        rollout: RolloutConfig {
            attempts: args.attempts,
            group_size: 1,
            mode: args.mode,
            memory: args.memory,
            sampling: SamplingParams {
                temperature: args.temperature,
                top_p: args.top_p,
                top_k: args.top_k,
                max_new_tokens: args.max_new_tokens,
                repetition_penalty: args.repetition_penalty,
            },
            seed: args.seed,
            env_config,
            parsing: ParsingTable::default(),
            expert_hints: args.policy == PolicyKind::Expert,
            validity: args.validity,
            record_prompts: args.record_prompts,
            ..RolloutConfig::default()
        },
    };
    let env = factory.info().name.clone();
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(format!(
            "eval-{env}-{}{}-{}-{}-n{}-k{}-s{}",
            format!("{:?}", args.policy).to_lowercase(),
            model_label(&args),
            args.mode.as_str(),
            args.split,
            args.tasks,
            args.attempts,
            args.seed
        ))
    });

    let trials = args.tasks * (1 + args.diversity_samples as u64);
    let bar = if args.no_progress {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(trials)
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} trials · {msg}")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let mut timed = TimedPolicy {
        inner: policy.as_mut(),
        elapsed: Duration::ZERO,
        counted: PolicyUsage::default(),
        sharing: PrefillSharing::default(),
    };
    let outcome = evaluate(factory, &mut timed, &config, &mut Progress(bar.clone()))
        .with_context(|| format!("evaluating {} on {env}", timed.name()))?;
    let timing = Timing::new(
        timed.name(),
        started.elapsed().as_secs_f64(),
        timed.elapsed.as_secs_f64(),
        timed.usage().unwrap_or_default(),
        timed.sharing,
    );
    bar.finish_and_clear();

    println!("{}", outcome.report.table());
    println!(
        "wall time {:.1} s: policy {:.1} s ({:.0}%), environments and the rest {:.1} s",
        timing.wall_seconds,
        timing.policy_seconds,
        100.0 * timing.policy_seconds / timing.wall_seconds.max(1e-9),
        timing.wall_seconds - timing.policy_seconds
    );
    let mut files = write_outputs(&outcome, &out)?;
    let timing_file = out.join("timing.json");
    std::fs::write(&timing_file, serde_json::to_string_pretty(&timing)?)
        .with_context(|| format!("cannot write {}", timing_file.display()))?;
    files.push(timing_file);
    println!();
    for file in files {
        println!("wrote {}", file.display());
    }
    let backend_failed = outcome.report.backend_failed_trials;
    if backend_failed > 0 {
        anyhow::bail!(
            "{backend_failed} trials failed in the policy backend (no answer after retries), \
             counted as failed, not as wrong answers; first: {}",
            outcome.report.first_failure.as_deref().unwrap_or("?")
        );
    }
    all_trials_failed(&outcome.trials)
}

/// An error when no trial ran to its end (the results would be all zeros
/// for a reason that is not the policy's), naming the first failure.
fn all_trials_failed(trials: &[TrialResult]) -> anyhow::Result<()> {
    let failed = trials.iter().filter(|t| t.failure.is_some()).count();
    if trials.is_empty() || failed < trials.len() {
        return Ok(());
    }
    let first = crate::rollout::first_failure(trials).unwrap_or_default();
    anyhow::bail!("every one of the {failed} trials failed in its environment (the first: {first})")
}

/// A file-name-safe label of the model an evaluation ran, for its default
/// output directory (so evaluations of two models never overwrite each other).
fn model_label(args: &EvalArgs) -> String {
    let raw = match args.policy {
        PolicyKind::Llm => args.model.as_deref().unwrap_or("tiny"),
        PolicyKind::Openai => args.model.as_deref().unwrap_or("served"),
        _ => return String::new(),
    };
    let mut label: String = raw
        .trim_matches(|c| c == '/' || c == '.')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if label.len() > 64 {
        label = label.split_off(label.len() - 64);
    }
    format!("-{label}")
}

/// Where an evaluation's wall time went: inside the policy, or elsewhere
/// (environments, prompt assembly, parsing).
#[derive(Debug, serde::Serialize)]
struct Timing {
    wall_seconds: f64,
    policy_seconds: f64,
    /// The policy as the report names it (for `openai`, with its wire mode).
    policy: String,
    /// Policy requests (one per prompt), retries, final failures and tokens.
    #[serde(flatten)]
    usage: PolicyUsage,
    /// Completion tokens per second of policy time.
    completion_tokens_per_second: f64,
    /// Prompt and completion tokens per second of policy time.
    tokens_per_second: f64,
    /// Prompt tokens the generation batches prefill with no sharing, with
    /// identical prompts once, and with every shared prefix once.
    prefill_sharing: PrefillSharing,
}

impl Timing {
    fn new(
        policy: String,
        wall_seconds: f64,
        policy_seconds: f64,
        usage: PolicyUsage,
        prefill_sharing: PrefillSharing,
    ) -> Self {
        let per_second = |tokens: u64| tokens as f64 / policy_seconds.max(1e-9);
        Timing {
            wall_seconds,
            policy_seconds,
            policy,
            usage,
            completion_tokens_per_second: per_second(usage.completion_tokens),
            tokens_per_second: per_second(usage.prompt_tokens + usage.completion_tokens),
            prefill_sharing,
        }
    }
}

/// A policy decorator that adds up the wall time spent generating, and the
/// requests and tokens where the policy does not count them itself, and
/// what each batch's prompts could share in prefill.
struct TimedPolicy<'a> {
    inner: &'a mut dyn Policy,
    elapsed: Duration,
    counted: PolicyUsage,
    sharing: PrefillSharing,
}

impl Policy for TimedPolicy<'_> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn usage(&self) -> Option<PolicyUsage> {
        Some(self.inner.usage().unwrap_or(self.counted))
    }

    fn generate(
        &mut self,
        requests: &[PolicyRequest],
        sampling: &SamplingParams,
    ) -> Result<Vec<PolicyResponse>, PolicyError> {
        let started = Instant::now();
        let responses = self.inner.generate(requests, sampling);
        self.elapsed += started.elapsed();
        self.counted.requests += requests.len() as u64;
        if let Ok(answered) = &responses {
            self.sharing.add_answered(answered);
        }
        for r in responses.iter().flatten() {
            self.counted.prompt_tokens += r.prompt_ids.len() as u64;
            self.counted.completion_tokens +=
                (r.response_ids.len() + usize::from(r.stop_token.is_some())) as u64;
        }
        responses
    }
}
