//! # The training loop
//!
//! One step of LaMer (paper §1.4):
//!
//! 1. draw `tasks_per_step` training tasks (a pure function of the run seed
//!    and the step) and play `group_size` trials of each with the rollout
//!    engine at the training temperature;
//! 2. compute the cross-episode returns and the advantages of every recorded
//!    row ([`super::returns`], [`super::advantages`]);
//! 3. run the PPO update over mini-batches of rows ([`super::update`]);
//! 4. log the step's metrics; every `val_every` steps validate on held-out
//!    tasks (pass@1..N at the test temperature); every `save_every` steps
//!    write a checkpoint.
//!
//! The RL baselines (`--algo gigpo|grpo`) run the same loop with one attempt
//! and N× as many trials per task ([`super::recipe::Plan`]).
//!
//! A stop flag (set by Ctrl-C in the CLI) is checked between steps: the loop
//! then writes a checkpoint of the last completed step and returns.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use lamer_plugin::EnvFactory;
use lamer_policy::prefix_sharing::SharingMeter;
use lamer_policy::{
    AdamW, AdamWConfig, DType, Device, LlmPolicy, LoraConfig, ModelSource, PolicyError, TrainMode,
    TrainableParams,
};
use lamer_sdk::{SeededRng, Task, mix_seed};

use super::advantages::{AdvantageConfig, AdvantageRow, advantages};
use super::checkpoint::{
    CheckpointError, LoadedCheckpoint, OPTIMIZER_FILE, POLICY_DIR, TrainState, load_checkpoint,
    remove_stale_temporaries, save_checkpoint,
};
use super::metrics::{MetricsError, MetricsLog, StepMetrics};
use super::progress::StepProgress;
use super::recipe::{Algo, Overrides, Plan, Recipe, RecipeError, Scale, ValTaskDraw};
use super::returns::{Discounts, rollout_returns};
use super::update::{TrainRow, UpdateConfig, UpdateError, ppo_update};
use crate::eval::{EvalConfig, EvalError, evaluate, evaluate_tasks};
use crate::rollout::{
    NoObserver, RolloutConfig, RolloutError, RolloutOutput, Row, TaskGroup, first_failure,
    run_rollout,
};

/// Salt of the validation rollouts' seed (the same at every validation, so
/// successive validations differ only by the weights).
const VALIDATION_SALT: u64 = 0x5A11_DA7E;
/// Salt of a step's task draw.
const TASK_SALT: u64 = 0x7A5C;
/// Salt of a step's rollout seed.
const ROLLOUT_SALT: u64 = 0x0002_0110_u64;
/// Salt of the LoRA initialisation.
const LORA_SALT: u64 = 0x10_2A;

/// Why training stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    #[error("policy: {0}")]
    Policy(#[from] PolicyError),
    #[error("rollout: {0}")]
    Rollout(#[from] RolloutError),
    #[error("validation: {0}")]
    Eval(#[from] EvalError),
    #[error(transparent)]
    Update(#[from] UpdateError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("{0}")]
    Config(String),
}

/// Everything a run needs besides the environment.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The effective recipe (scale and overrides applied).
    pub recipe: Recipe,
    pub algo: Algo,
    pub scale: Scale,
    /// `--model` (`None`: the built-in tiny model).
    pub model: Option<String>,
    pub device: Device,
    pub dtype: DType,
    /// The run directory: `metrics.jsonl`, `curves.svg`, `checkpoints/`.
    pub out_dir: PathBuf,
    /// Continue from this checkpoint (its recipe, algorithm and seed win).
    pub resume: Option<PathBuf>,
    /// Schedule changes for a resumed run (`--steps` to extend it, the
    /// validation and checkpoint cadence), applied over the checkpoint's
    /// recipe; see [`Overrides::meaning_changes`] for what may not change.
    pub resume_schedule: Overrides,
    /// Checked between steps; when set, save and return.
    pub stop: Arc<AtomicBool>,
    /// Stop (with a checkpoint) after this many steps *of this invocation*.
    pub max_steps_this_run: Option<usize>,
    pub progress: bool,
}

impl TrainOptions {
    pub fn new(recipe: Recipe, algo: Algo, out_dir: impl Into<PathBuf>) -> Self {
        TrainOptions {
            recipe,
            algo,
            scale: Scale::Auto,
            model: None,
            device: Device::Cpu,
            dtype: DType::F32,
            out_dir: out_dir.into(),
            resume: None,
            resume_schedule: Overrides::default(),
            stop: Arc::new(AtomicBool::new(false)),
            max_steps_this_run: None,
            progress: false,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// Steps completed in total (including before a resume).
    pub step: usize,
    /// The last checkpoint written.
    pub checkpoint: Option<PathBuf>,
    /// The stop flag or `max_steps_this_run` ended it early.
    pub interrupted: bool,
    /// Every record of `metrics.jsonl`.
    pub metrics: Vec<StepMetrics>,
    /// The last step's rows and advantages (for inspection and tests).
    pub last_rows: Vec<Row>,
    pub last_advantages: Vec<f64>,
}

/// The policy being trained, its trainable vars and its optimiser.
pub struct Learner {
    pub policy: LlmPolicy,
    pub params: TrainableParams,
    pub optimizer: AdamW,
    /// The directory the model was loaded from.
    pub source_dir: PathBuf,
}

/// Prints the run's memory plan and refuses one that cannot fit the device.
/// Returns whether the plan recomputes decoder layers in backward
/// (`optim.activation_checkpointing`, on under `auto` when needed to fit).
fn memory_plan(
    dir: &Path,
    recipe: &Recipe,
    device: &Device,
    dtype: DType,
) -> Result<bool, TrainError> {
    use lamer_policy::memory::{
        Checkpointing, MemoryPlan, PlanInput, PlanMode, check_plan, device_name,
    };
    let l = &recipe.lengths;
    let input = PlanInput {
        config: lamer_policy::loading::ModelFiles::locate(dir)?.read_config()?,
        dtype,
        mode: match &recipe.optim.lora {
            Some(lora) => PlanMode::Lora { rank: lora.rank },
            None => PlanMode::Full,
        },
        micro_batch: recipe.optim.micro_batch,
        train_tokens: l.max_prompt_tokens + l.max_new_tokens,
        response_tokens: l.max_new_tokens,
        generation_rows: recipe.schedule.tasks_per_step * recipe.trial.group_size,
        generation_tokens: l.max_prompt_tokens + l.max_new_tokens,
        prefill_token_budget: 16_384,
        fused_attention: device.is_cpu(),
    };
    let (plan, warning) = check_plan(&input, recipe.optim.activation_checkpointing, device)?;
    eprintln!("memory plan on {}: {}", device_name(device), plan.summary());
    if let Some(warning) = warning {
        eprintln!("warning: {warning} (rows at the longest lengths may not fit)");
    }
    if plan.checkpointing && recipe.optim.activation_checkpointing == Checkpointing::Auto {
        let kept = MemoryPlan::estimate(&input).peak() as f64 / (1u64 << 30) as f64;
        eprintln!(
            "activation checkpointing is on: keeping every layer's activations would need {kept:.2} GiB"
        );
    }
    Ok(plan.checkpointing)
}

impl Learner {
    /// Loads `model` and makes it trainable as `recipe.optim` says.
    pub fn load(
        model: Option<&str>,
        recipe: &Recipe,
        device: &Device,
        dtype: DType,
    ) -> Result<Self, TrainError> {
        let source = ModelSource::parse(model);
        let source_dir = source.resolve()?;
        let checkpointing = memory_plan(&source_dir, recipe, device, dtype)?;
        let mut policy = LlmPolicy::from_source(&source, device, dtype)?;
        policy
            .model_mut()
            .set_activation_checkpointing(checkpointing);
        let mode = match &recipe.optim.lora {
            Some(l) => TrainMode::Lora(LoraConfig {
                rank: l.rank,
                alpha: l.alpha,
                ..LoraConfig::default()
            }),
            None => TrainMode::Full,
        };
        let params = TrainableParams::new(
            policy.model_mut(),
            mode,
            mix_seed(recipe.schedule.seed, LORA_SALT),
        )?;
        let o = &recipe.optim;
        let optimizer = AdamW::new(
            params.named_vars(),
            AdamWConfig {
                lr: o.lr,
                beta1: o.beta1,
                beta2: o.beta2,
                eps: o.eps,
                weight_decay: o.weight_decay,
            },
        )?;
        Ok(Learner {
            policy,
            params,
            optimizer,
            source_dir,
        })
    }

    /// Writes the weights and the optimiser into a checkpoint directory.
    pub fn save_into(&self, dir: &Path) -> Result<(), CheckpointError> {
        let save = |what, e: PolicyError| CheckpointError::Save {
            what,
            message: e.to_string(),
        };
        self.params
            .save(&dir.join(POLICY_DIR))
            .map_err(|e| save("weights", e))?;
        self.optimizer
            .save(&dir.join(OPTIMIZER_FILE))
            .map_err(|e| save("optimiser", e))
    }

    /// Restores the weights and the optimiser from a checkpoint.
    pub fn restore(&mut self, checkpoint: &LoadedCheckpoint) -> Result<(), TrainError> {
        self.params.load(&checkpoint.policy_dir())?;
        self.optimizer.load(&checkpoint.optimizer_file())?;
        Ok(())
    }
}

/// The training tasks of a step: `count` indices of `split`, drawn from the
/// run seed and the step alone.
pub fn step_tasks(
    split: &str,
    task_count: u64,
    count: usize,
    seed: u64,
    step: usize,
) -> Vec<TaskGroup> {
    draw_tasks(split, task_count, count, mix_seed(seed, TASK_SALT), step)
}

/// Turns recorded rows and their advantages into update rows.
pub fn train_rows(rows: &[Row], advantages: &[f64]) -> Vec<TrainRow> {
    rows.iter()
        .zip(advantages)
        .map(|(row, &adv)| TrainRow {
            prompt_ids: row.prompt_ids.clone(),
            response_ids: row.response_ids.clone(),
            old_logprobs: row.logprobs.clone(),
            advantage: adv as f32,
        })
        .collect()
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// Mean, max and min of the finite values; nothing when there are none (a
/// fold's ±f64::MAX start value must never reach the log).
fn stats(prefix: &str, values: &[f64], out: &mut StepMetrics) {
    let finite = || values.iter().copied().filter(|v| v.is_finite());
    let (Some(max), Some(min)) = (finite().reduce(f64::max), finite().reduce(f64::min)) else {
        return;
    };
    out.set(format!("{prefix}/mean"), mean(finite()));
    out.set(format!("{prefix}/max"), max);
    out.set(format!("{prefix}/min"), min);
}

/// The rollout-side metrics of a training step.
pub fn rollout_metrics(
    out: &RolloutOutput,
    advantages: &[f64],
    returns: &[f64],
    m: &mut StepMetrics,
) {
    let trials = &out.trials;
    let solved = trials.iter().filter(|t| t.solved_at().is_some()).count();
    m.set(
        "episode/success_rate",
        solved as f64 / trials.len().max(1) as f64,
    );
    let first = trials.iter().filter(|t| t.solved_at() == Some(0)).count();
    m.set(
        "episode/success_rate_attempt1",
        first as f64 / trials.len().max(1) as f64,
    );
    m.set(
        "episode/reward/mean",
        mean(
            trials
                .iter()
                .flat_map(|t| t.attempts.iter().map(|a| a.total_reward)),
        ),
    );
    m.set(
        "episode/attempts/mean",
        mean(trials.iter().map(|t| t.attempts.len() as f64)),
    );
    let lengths: Vec<f64> = out
        .rows
        .iter()
        .map(|r| r.response_length() as f64)
        .collect();
    stats("response_length", &lengths, m);
    let prompt_lengths: Vec<f64> = out.rows.iter().map(|r| r.prompt_ids.len() as f64).collect();
    stats("prompt_length", &prompt_lengths, m);
    m.set(
        "episode/valid_ratio",
        mean(out.rows.iter().map(|r| if r.valid { 1.0 } else { 0.0 })),
    );
    m.set("train/rows", out.rows.len() as f64);
    stats("critic/advantages", advantages, m);
    stats("critic/returns", returns, m);
}

/// The rollout's rows without those of trials that an environment error
/// ended, and how many trials that was: a crashed trial's returns run over a
/// truncated trial, so its rows must not bias its group's advantages.
pub fn drop_failed_trials(mut output: RolloutOutput) -> (RolloutOutput, usize) {
    let failed: std::collections::HashSet<usize> = output
        .trials
        .iter()
        .filter(|t| t.failure.is_some())
        .map(|t| t.trial_uid)
        .collect();
    output.rows.retain(|r| !failed.contains(&r.trial_uid));
    (output, failed.len())
}

/// Opens one session with `config` so that a config the plugin rejects
/// stops the run before any work, with the plugin's own one-line reason.
pub fn check_env_config(factory: &dyn EnvFactory, config: &str) -> Result<(), TrainError> {
    factory.open(config).map(drop).map_err(|e| {
        let shown = if config.is_empty() { "{}" } else { config };
        TrainError::Config(format!("the plugin rejects the env config {shown}: {e}"))
    })
}

fn every_trial_failed(step: usize, output: &RolloutOutput) -> TrainError {
    let first = first_failure(&output.trials).unwrap_or_default();
    TrainError::Config(format!(
        "every trial of step {step} failed in its environment, so there is nothing to learn \
         from (the first: {first})"
    ))
}

/// The held-out tasks of a fresh validation at `step`: `count` tasks drawn
/// from the run seed and the step alone, as the official validation draws
/// new seeds every time.
pub fn fresh_validation_tasks(
    split: &str,
    task_count: u64,
    count: usize,
    seed: u64,
    step: usize,
) -> Vec<TaskGroup> {
    draw_tasks(
        split,
        task_count,
        count,
        mix_seed(seed, VALIDATION_SALT),
        step,
    )
}

/// `count` task indices of `split` drawn uniformly from `stream` and the
/// step alone.
fn draw_tasks(
    split: &str,
    task_count: u64,
    count: usize,
    stream: u64,
    step: usize,
) -> Vec<TaskGroup> {
    let mut rng = SeededRng::new(mix_seed(stream, step as u64));
    (0..count)
        .map(|id| TaskGroup {
            id,
            task: Task::new(split, rng.below(task_count.max(1))),
        })
        .collect()
}

/// Validates `model` (`None`: the built-in tiny model) as a run of `recipe`
/// and `algo` validates at step 0, without training it: the figures a run's
/// starting point is compared with.
pub fn validate_model(
    factory: &dyn EnvFactory,
    model: Option<&str>,
    recipe: &Recipe,
    algo: Algo,
) -> Result<StepMetrics, TrainError> {
    let mut learner = Learner::load(model, recipe, &Device::Cpu, DType::F32)?;
    let mut m = StepMetrics::new(0);
    validate(factory, &mut learner, recipe, &recipe.plan(algo), 0, &mut m)?;
    Ok(m)
}

/// Runs validation and records `val/pass@k` and `val/success_rate`.
fn validate(
    factory: &dyn EnvFactory,
    learner: &mut Learner,
    recipe: &Recipe,
    plan: &Plan,
    step: usize,
    m: &mut StepMetrics,
) -> Result<(), TrainError> {
    if recipe.schedule.val_tasks == 0 {
        return Ok(());
    }
    let config = EvalConfig {
        split: recipe.env.val_split.clone(),
        first_task: 0,
        tasks: recipe.schedule.val_tasks as u64,
        batch_tasks: 0,
        diversity_samples: 0,
        rollout: RolloutConfig {
            attempts: plan.val_attempts,
            group_size: 1,
            mode: plan.val_mode,
            memory: recipe.trial.memory,
            sampling: recipe.sampling.eval.params(recipe.lengths.max_new_tokens),
            seed: mix_seed(recipe.schedule.seed, VALIDATION_SALT),
            env_config: recipe.val_env_config_json(),
            expert_hints: false,
            turn_cap: recipe.val_max_turns(),
            validity: recipe.trial.validity,
            max_prompt_tokens: Some(recipe.lengths.max_prompt_tokens),
            ..RolloutConfig::default()
        },
    };
    let outcome = match recipe.schedule.val_task_draw {
        ValTaskDraw::Fixed => evaluate(factory, &mut learner.policy, &config, &mut NoObserver)?,
        ValTaskDraw::Fresh => {
            let split = &recipe.env.val_split;
            let task_count = factory
                .info()
                .split(split)
                .map(|s| s.task_count)
                .ok_or_else(|| {
                    TrainError::Config(format!("the environment has no split `{split}`"))
                })?;
            let tasks = fresh_validation_tasks(
                split,
                task_count,
                recipe.schedule.val_tasks,
                recipe.schedule.seed,
                step,
            );
            evaluate_tasks(
                factory,
                &mut learner.policy,
                &config,
                &tasks,
                &mut NoObserver,
            )?
        }
    };
    for (k, p) in outcome.report.pass_at_k.iter().enumerate() {
        m.set(format!("val/pass@{}", k + 1), *p);
    }
    if let Some(last) = outcome.report.pass_at_k.last() {
        m.set("val/success_rate", *last);
    }
    m.set(
        "val/mean_episode_return",
        outcome.report.mean_episode_return,
    );
    m.set(
        "val/invalid_action_ratio",
        outcome.report.invalid_action_ratio,
    );
    Ok(())
}

/// What the curves are over, for the caption of `curves.svg`: algorithm,
/// environment, model, the training batch, the validation's split, size and
/// draw, and the seed.
fn curves_caption(recipe: &Recipe, plan: &Plan, model: Option<&str>) -> String {
    let s = &recipe.schedule;
    let draw = match s.val_task_draw {
        ValTaskDraw::Fixed => "the same tasks each time",
        ValTaskDraw::Fresh => "fresh tasks each time",
    };
    format!(
        "{algo} on {env} ({model}) · train: split {train}, {b} tasks × {g} trials × {a} \
         attempts per step · validation: split {val}, n = {n} tasks × {va} attempts every {every} \
         steps ({draw}) · seed {seed}",
        algo = plan.algo.as_str(),
        env = recipe.env.name,
        model = model.unwrap_or("built-in tiny model"),
        train = recipe.env.train_split,
        b = s.tasks_per_step,
        g = plan.train_group_size,
        a = plan.train_attempts,
        val = recipe.env.val_split,
        n = s.val_tasks,
        va = plan.val_attempts,
        every = s.val_every,
        seed = s.seed,
    )
}

/// Runs (or resumes) a training run.
pub fn train(factory: &dyn EnvFactory, options: TrainOptions) -> Result<TrainOutcome, TrainError> {
    let mut options = options;
    let checkpoint = match &options.resume {
        Some(path) => Some(load_checkpoint(path)?),
        None => None,
    };
    if let Some(ckpt) = &checkpoint {
        // The checkpoint's settings win: a resumed run must be the same run.
        options.recipe = Recipe::from_toml(&ckpt.recipe_toml, &ckpt.dir.display().to_string())?;
        let changes = options.resume_schedule.meaning_changes();
        if !changes.is_empty() {
            return Err(TrainError::Config(format!(
                "a resumed run keeps its settings; {} would change what the run means \
                 (only --steps, --val-every, --val-tasks and --save-every may change)",
                changes.join(", ")
            )));
        }
        options.resume_schedule.apply(&mut options.recipe);
        options.algo = ckpt.state.algo;
        options.scale = ckpt.state.scale;
        options.model = ckpt.state.model.clone();
    }
    let recipe = options.recipe.clone();
    recipe.validate()?;
    let info = factory.info();
    if info.name != recipe.env.name {
        return Err(TrainError::Config(format!(
            "the recipe is for `{}` but the plugin is `{}`; pass the matching --recipe",
            recipe.env.name, info.name
        )));
    }
    let train_split = info.split(&recipe.env.train_split).ok_or_else(|| {
        TrainError::Config(format!(
            "`{}` has no split `{}` (it has: {})",
            info.name,
            recipe.env.train_split,
            info.splits
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let train_count = train_split.task_count;
    for config in [recipe.env_config_json(), recipe.val_env_config_json()] {
        check_env_config(factory, &config)?;
    }
    let plan = recipe.plan(options.algo);
    let seed = recipe.schedule.seed;

    let mut learner = Learner::load(
        options.model.as_deref(),
        &recipe,
        &options.device,
        options.dtype,
    )?;
    let start_step = match &checkpoint {
        Some(ckpt) => {
            learner.restore(ckpt)?;
            ckpt.state.step
        }
        None => 0,
    };
    let reference = if recipe.ppo.kl_coef != 0.0 {
        // A second, never-updated copy of the starting weights.
        let source = ModelSource::parse(options.model.as_deref());
        Some(LlmPolicy::from_source(
            &source,
            &options.device,
            options.dtype,
        )?)
    } else {
        None
    };

    std::fs::create_dir_all(&options.out_dir).map_err(|e| {
        TrainError::Config(format!("cannot create {}: {e}", options.out_dir.display()))
    })?;
    let recipe_toml = recipe.to_toml()?;
    std::fs::write(options.out_dir.join("recipe.toml"), &recipe_toml).map_err(|e| {
        TrainError::Config(format!(
            "cannot write to {}: {e}",
            options.out_dir.display()
        ))
    })?;
    let checkpoint_root = options.out_dir.join("checkpoints");
    remove_stale_temporaries(&checkpoint_root)?;
    let mut log = MetricsLog::open(&options.out_dir.join("metrics.jsonl"), Some(start_step))?;
    let plot_path = options.out_dir.join("curves.svg");
    let caption = curves_caption(&recipe, &plan, options.model.as_deref());

    let update_config = UpdateConfig {
        mini_batch: recipe.optim.mini_batch,
        micro_batch: recipe.optim.micro_batch,
        epochs: recipe.optim.epochs,
        grad_clip: recipe.optim.grad_clip,
        temperature: recipe.sampling.train.temperature,
        ppo: recipe.ppo.clone(),
    };
    let discounts = Discounts {
        gamma_step: recipe.trial.gamma_step,
        gamma_traj: plan.gamma_traj,
        variant: recipe.trial.return_variant,
    };
    let adv_config = AdvantageConfig {
        invalid_penalty: recipe.trial.invalid_penalty,
        step_weight: recipe.trial.step_advantage_weight,
    };
    let save = |learner: &Learner, step: usize| -> Result<PathBuf, TrainError> {
        let state = TrainState {
            step,
            seed,
            algo: options.algo,
            scale: options.scale,
            model: options.model.clone(),
            optimizer_steps: learner.optimizer.step_count(),
        };
        Ok(save_checkpoint(
            &checkpoint_root,
            &state,
            &recipe_toml,
            |dir| learner.save_into(dir),
        )?)
    };

    let bar = StepProgress::new(options.progress, recipe.schedule.steps, start_step);
    if start_step == 0 && recipe.schedule.val_before_train && recipe.schedule.val_every > 0 {
        bar.phase("validation before training");
        let val_started = Instant::now();
        let mut m = StepMetrics::new(0);
        validate(factory, &mut learner, &recipe, &plan, 0, &mut m)?;
        m.set("timing_s/validation", val_started.elapsed().as_secs_f64());
        bar.step_done(&m);
        log.append(m)?;
    }

    let mut outcome = TrainOutcome {
        step: start_step,
        checkpoint: None,
        interrupted: false,
        metrics: Vec::new(),
        last_rows: Vec::new(),
        last_advantages: Vec::new(),
    };
    let mut saved_at = checkpoint.as_ref().map(|c| c.state.step);
    for (steps_this_run, step) in (start_step + 1..=recipe.schedule.steps).enumerate() {
        let limit_hit = options
            .max_steps_this_run
            .is_some_and(|m| steps_this_run >= m);
        if options.stop.load(Ordering::SeqCst) || limit_hit {
            outcome.interrupted = true;
            break;
        }
        let started = Instant::now();
        let groups = step_tasks(
            &recipe.env.train_split,
            train_count,
            recipe.schedule.tasks_per_step,
            seed,
            step,
        );
        let rollout_config = RolloutConfig {
            attempts: plan.train_attempts,
            group_size: plan.train_group_size,
            mode: plan.train_mode,
            memory: recipe.trial.memory,
            sampling: recipe.sampling.train.params(recipe.lengths.max_new_tokens),
            seed: mix_seed(mix_seed(seed, ROLLOUT_SALT), step as u64),
            env_config: recipe.env_config_json(),
            expert_hints: false,
            turn_cap: recipe.trial.max_turns,
            validity: recipe.trial.validity,
            max_prompt_tokens: Some(recipe.lengths.max_prompt_tokens),
            ..RolloutConfig::default()
        };
        bar.phase("rollout");
        // The meter counts what the rollout's batches could share in prefill
        // (exact duplicates vs a prefix tree): `prefill/*` in metrics.jsonl.
        let mut meter = SharingMeter::new(&mut learner.policy);
        let output = run_rollout(
            factory,
            &mut meter,
            &groups,
            &rollout_config,
            &mut NoObserver,
        )?;
        let sharing = meter.sharing;
        let rollout_s = started.elapsed().as_secs_f64();
        let (output, failed_trials) = drop_failed_trials(output);
        if failed_trials == output.trials.len() {
            return Err(every_trial_failed(step, &output));
        }
        let returns = rollout_returns(&output.rows, &discounts);
        let adv_rows = AdvantageRow::from_rows(&output.rows, &returns);
        let adv = advantages(&adv_rows, plan.estimator, &adv_config);
        let rows = train_rows(&output.rows, &adv);
        bar.phase("update");
        let update_started = Instant::now();
        let vars = learner.params.vars();
        let update = ppo_update(
            learner.policy.model(),
            reference.as_ref().map(|r| r.model()),
            &vars,
            &mut learner.optimizer,
            &rows,
            &update_config,
        )?;
        let update_s = update_started.elapsed().as_secs_f64();

        let mut m = StepMetrics::new(step);
        rollout_metrics(&output, &adv, &returns.step_returns, &mut m);
        m.set("train/failed_trials", failed_trials as f64);
        m.set("actor/pg_loss", update.pg_loss);
        m.set("actor/entropy", update.entropy);
        m.set("actor/pg_clipfrac", update.pg_clipfrac);
        m.set("actor/pg_clipfrac_lower", update.pg_clipfrac_lower);
        m.set("actor/ppo_kl", update.ppo_kl);
        m.set("actor/grad_norm", update.grad_norm);
        m.set("actor/lr", learner.optimizer.config().lr);
        m.set("actor/updates", update.updates as f64);
        if recipe.ppo.kl_coef != 0.0 {
            m.set("actor/kl_loss", update.kl_loss);
        }
        m.set("train/tokens", update.tokens as f64);
        m.set("timing_s/rollout", rollout_s);
        m.set("prefill/batches", sharing.batches as f64);
        m.set("prefill/rows", sharing.rows as f64);
        m.set("prefill/prompt_tokens", sharing.prompt_tokens as f64);
        m.set("prefill/dedup_tokens", sharing.dedup_tokens as f64);
        m.set(
            "prefill/batch_prefix_tokens",
            sharing.batch_prefix_tokens as f64,
        );
        m.set(
            "prefill/dedup_padded_tokens",
            sharing.dedup_padded_tokens as f64,
        );
        m.set(
            "prefill/prefix_tree_tokens",
            sharing.prefix_tree_tokens as f64,
        );
        m.set("timing_s/update", update_s);
        let val_every = recipe.schedule.val_every;
        if val_every > 0 && (step % val_every == 0 || step == recipe.schedule.steps) {
            bar.phase("validation");
            let val_started = Instant::now();
            validate(factory, &mut learner, &recipe, &plan, step, &mut m)?;
            m.set("timing_s/validation", val_started.elapsed().as_secs_f64());
        }
        m.set("timing_s/step", started.elapsed().as_secs_f64());
        bar.step_done(&m);
        log.append(m)?;
        log.plot(&plot_path, &caption)?;
        outcome.step = step;
        outcome.last_rows = output.rows;
        outcome.last_advantages = adv;

        let save_every = recipe.schedule.save_every;
        if save_every > 0 && step % save_every == 0 {
            outcome.checkpoint = Some(save(&learner, step)?);
            tracing::info!(step, "checkpoint saved");
            saved_at = Some(step);
        }
    }
    bar.finish();
    if saved_at != Some(outcome.step) {
        outcome.checkpoint = Some(save(&learner, outcome.step)?);
    }
    if *learner.params.mode() == TrainMode::Full {
        // A plain model directory, usable as `--model` by eval or a next
        // stage; also after an interruption, as of the last step.
        super::sft::export_model_dir(&learner, &options.out_dir.join("model"))?;
    }
    outcome.metrics = log.records().to_vec();
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_validation_tasks_are_new_at_every_step_and_reproducible() {
        let at = |step| fresh_validation_tasks("test", 1 << 32, 16, 7, step);
        assert_eq!(at(5), at(5));
        assert_ne!(at(5), at(10));
        let tasks = at(5);
        assert_eq!(tasks.len(), 16);
        assert!(
            tasks
                .iter()
                .enumerate()
                .all(|(i, g)| g.id == i && g.task.split == "test" && g.task.index < 1 << 32)
        );
        // Not the fixed first tasks, and not the training draw of that step.
        assert_ne!(tasks.iter().map(|g| g.task.index).max(), Some(15));
        let train: Vec<u64> = step_tasks("test", 1 << 32, 16, 7, 5)
            .iter()
            .map(|g| g.task.index)
            .collect();
        assert_ne!(
            train,
            tasks.iter().map(|g| g.task.index).collect::<Vec<_>>()
        );
    }
}
