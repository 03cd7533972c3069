//! `lamer-host train`: meta-RL (LaMer) or RL-baseline training of a policy on
//! a plugin environment, from a recipe.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::plugin_args::PluginArgs;
use crate::train::learning::{Stage, learning_svg, run_stages, table};
use crate::train::recipe::{Algo, Overrides, Recipe, Scale};
use crate::train::sft::SftEpoch;
use crate::train::trainer::{TrainOptions, train};
use crate::train::warm_start::{
    WarmStart, default_warm_start, has_expert, untrained_validation, warm_start,
};

/// Flags of `lamer-host train`.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub plugin: PluginArgs,

    /// Recipe TOML; it may set only some keys, which layer over the built-in
    /// recipe of the plugin's environment, or over the generic default when
    /// there is none (`lamer-host recipe show ENV|default`; keys:
    /// docs/recipes.md) [default: that base alone].
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,

    /// Model: a Hugging Face directory, a hub id, a run or checkpoint directory
    /// of ours, or a PEFT adapter directory [default: the built-in tiny model].
    #[arg(long, value_name = "DIR")]
    pub model: Option<String>,

    /// `lamer`: 3 attempts × group 8 with reflection; `gigpo`/`grpo`: single
    /// attempts × group 24 (equal trajectory budget), validated with 3
    /// independent attempts and no reflection.
    /// [default: lamer]
    #[arg(long, value_enum)]
    pub algo: Option<Algo>,

    /// `auto`: the recipe's `[scale]` (tiny, CPU-sized) overrides when no
    /// --model is given [default: auto].
    #[arg(long, value_enum)]
    pub scale: Option<Scale>,

    /// Run directory: metrics.jsonl, curves.svg, checkpoints/, model/. It must
    /// not hold another run (see --overwrite and --resume) [default: runs/train].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Replace what the run directory holds (an earlier run) instead of refusing.
    #[arg(long)]
    pub overwrite: bool,

    /// Continue a run in its own directory, from its latest checkpoint (a run
    /// directory) or from a given one (a step-NNNNNN directory). Only
    /// --steps, --val-every, --val-tasks and --save-every may change; pass
    /// --steps to extend a finished run.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,

    /// Training steps (rollout + update each) [default: the recipe's `schedule.steps`].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Training tasks per step, B [default: the recipe's `schedule.tasks_per_step`].
    #[arg(long)]
    pub tasks_per_step: Option<usize>,
    /// LaMer's group size G (the baselines use attempts × G) [default: the recipe's
    /// `trial.group_size`].
    #[arg(long)]
    pub group_size: Option<usize>,
    /// Attempts per trial for `--algo lamer` [default: the recipe's `trial.attempts`].
    #[arg(long)]
    pub attempts: Option<u32>,
    /// The longest response, in tokens [default: the recipe's `lengths.max_new_tokens`].
    #[arg(long)]
    pub max_new_tokens: Option<usize>,
    /// The longest prompt, in tokens; a longer one stops the run with an error
    /// [default: the recipe's `lengths.max_prompt_tokens`].
    #[arg(long)]
    pub max_prompt_tokens: Option<usize>,
    /// Validate on held-out tasks every this many steps (0 = never) [default: the
    /// recipe's `schedule.val_every`].
    #[arg(long)]
    pub val_every: Option<usize>,
    /// Held-out tasks per validation [default: the recipe's `schedule.val_tasks`].
    #[arg(long)]
    pub val_tasks: Option<usize>,
    /// Write a checkpoint every this many steps [default: the recipe's `schedule.save_every`].
    #[arg(long)]
    pub save_every: Option<usize>,
    /// AdamW learning rate [default: the recipe's `optim.lr`].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Rows per optimiser update [default: the recipe's `optim.mini_batch`].
    #[arg(long)]
    pub mini_batch: Option<usize>,
    /// Rows per forward/backward pass; gradients accumulate over a mini-batch
    /// [default: the recipe's `optim.micro_batch`].
    #[arg(long)]
    pub micro_batch: Option<usize>,
    /// Recompute decoder layers in backward instead of keeping their
    /// activations: `auto` (when the memory plan does not fit without it),
    /// `on` or `off` [default: the recipe's `optim.activation_checkpointing`, auto].
    #[arg(long, value_name = "auto|on|off")]
    pub activation_checkpointing: Option<lamer_policy::memory::Checkpointing>,
    /// γ_traj, the discount across attempts of the cross-episode return [default:
    /// the recipe's `trial.gamma_traj`].
    #[arg(long)]
    pub gamma_traj: Option<f64>,
    /// The run seed: the tasks drawn, sampling, and fresh LoRA adapters
    /// [default: the recipe's `schedule.seed`].
    #[arg(long)]
    pub seed: Option<u64>,

    /// Device: `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    pub device: String,

    /// Weights dtype: f32, bf16 or f16.
    #[arg(long, default_value = "f32")]
    pub dtype: String,

    /// Hide the progress bar (`--quiet` works too).
    #[arg(long, alias = "quiet")]
    pub no_progress: bool,

    /// Before RL, fine-tune the built-in model on the plugin's expert
    /// (cached beside the tiny model, so only the first run pays for it).
    /// `auto`: when no --model is given and the plugin has an expert; `off`:
    /// train the untrained built-in model.
    #[arg(long, value_enum, default_value_t = WarmStartMode::Auto)]
    pub warm_start: WarmStartMode,
}

/// When `train` warm-starts the built-in model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WarmStartMode {
    Auto,
    Off,
}

impl TrainArgs {
    /// The CLI's overrides (`--config` merges into `[env.config]`).
    pub fn overrides(&self) -> anyhow::Result<Overrides> {
        let json = self.plugin.config_json()?;
        let env_config: toml::Table = if json.trim().is_empty() {
            toml::Table::new()
        } else {
            serde_json::from_str(&json)
                .with_context(|| format!("--config must be a JSON object, got {json}"))?
        };
        Ok(Overrides {
            steps: self.steps,
            tasks_per_step: self.tasks_per_step,
            group_size: self.group_size,
            attempts: self.attempts,
            max_new_tokens: self.max_new_tokens,
            max_prompt_tokens: self.max_prompt_tokens,
            val_every: self.val_every,
            val_tasks: self.val_tasks,
            save_every: self.save_every,
            lr: self.lr,
            mini_batch: self.mini_batch,
            micro_batch: self.micro_batch,
            activation_checkpointing: self.activation_checkpointing,
            seed: self.seed,
            gamma_traj: self.gamma_traj,
            val_task_draw: None,
            env_config: (!env_config.is_empty()).then_some(env_config),
        })
    }
}

/// Loads the recipe a run uses: `--recipe` layered over the base for the
/// plugin `env` (see [`Recipe::resolve`]), at `scale`, with the CLI overrides
/// applied and `trial.max_turns` passed to the plugin.
pub fn effective_recipe(
    recipe: Option<&PathBuf>,
    env: &lamer_sdk::EnvInfo,
    scale: Scale,
    have_model: bool,
    overrides: &Overrides,
) -> anyhow::Result<Recipe> {
    let recipe = Recipe::resolve(recipe.map(PathBuf::as_path), env)?;
    let mut recipe = recipe.at_scale(scale, have_model);
    overrides.apply(&mut recipe);
    recipe.validate()?;
    recipe.bind_turns(env);
    Ok(recipe)
}

/// The run directory: the resumed run's own, or `--out` made ready for a
/// new run (refused when it holds files, unless `--overwrite`).
fn run_directory(args: &TrainArgs, overrides: &Overrides) -> anyhow::Result<PathBuf> {
    let Some(resume) = &args.resume else {
        let out = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs/train"));
        prepare_new_run_dir(&out, args.overwrite)?;
        return Ok(out);
    };
    let mut fixed: Vec<&str> = overrides.meaning_changes();
    for (flag, set) in [
        ("--recipe", args.recipe.is_some()),
        ("--model", args.model.is_some()),
        ("--algo", args.algo.is_some()),
        ("--scale", args.scale.is_some()),
        ("--overwrite", args.overwrite),
    ] {
        if set {
            fixed.push(flag);
        }
    }
    anyhow::ensure!(
        fixed.is_empty(),
        "--resume continues a run with its own settings; {} would change what it means \
         (only --steps, --val-every, --val-tasks and --save-every may change)",
        fixed.join(", ")
    );
    let checkpoint = crate::train::checkpoint::load_checkpoint(resume)?;
    let run_dir = checkpoint
        .run_dir()
        .or_else(|| args.out.clone())
        .with_context(|| {
            format!(
                "{} is not inside a run directory (<run>/checkpoints/step-NNNNNN); pass --out \
             for the continued run",
                checkpoint.dir.display()
            )
        })?;
    if let Some(out) = &args.out {
        anyhow::ensure!(
            same_dir(out, &run_dir),
            "--resume continues in its own run directory {}; drop --out {}",
            run_dir.display(),
            out.display()
        );
    }
    Ok(run_dir)
}

fn same_dir(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Makes `dir` ready for a new run: created when missing, refused when it
/// holds anything (two runs must never mix), emptied first with `overwrite`.
pub fn prepare_new_run_dir(dir: &std::path::Path, overwrite: bool) -> anyhow::Result<()> {
    let occupied = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
    if occupied {
        anyhow::ensure!(
            overwrite,
            "{} already holds a run; pass --overwrite to replace it, --resume {} to continue \
             it, or another --out",
            dir.display(),
            dir.display()
        );
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// Runs `lamer-host train`.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let plugin = args.plugin.load()?;
    let env = lamer_plugin::EnvFactory::info(&plugin).name.clone();
    let overrides = args.overrides()?;
    let scale = args.scale.unwrap_or_default();
    let algo = args.algo.unwrap_or_default();
    let recipe = effective_recipe(
        args.recipe.as_ref(),
        lamer_plugin::EnvFactory::info(&plugin),
        scale,
        args.model.is_some(),
        &overrides,
    )?;
    let cap = args.plugin.sandbox.max_episode_turns;
    anyhow::ensure!(
        recipe.trial.max_turns.max(recipe.val_max_turns()) <= cap,
        "the recipe plays up to {} turns per attempt but --max-episode-turns caps an episode at \
         {cap}; raise --max-episode-turns or lower trial.max_turns",
        recipe.trial.max_turns.max(recipe.val_max_turns())
    );
    let out = run_directory(&args, &overrides)?;
    let warm = prepare_warm_start(&args, &plugin, &recipe)?;
    let untrained = match &warm {
        Some(w) => {
            println!("validating the untrained built-in model once, for comparison (cached)");
            Some(untrained_validation(&plugin, &recipe, algo, w)?)
        }
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                // A second Ctrl-C: give up at once.
                std::process::exit(130);
            }
            eprintln!(
                "\ninterrupt: finishing this step, then saving a checkpoint (Ctrl-C again to abort)"
            );
        })
        .context("cannot install the Ctrl-C handler")?;
    }
    let mut options = TrainOptions::new(recipe.clone(), algo, &out);
    options.scale = scale;
    options.model = match &warm {
        Some(w) => Some(w.dir.display().to_string()),
        None => args.model.clone(),
    };
    options.device = lamer_policy::loading::parse_device(&args.device)?;
    options.dtype = lamer_policy::loading::parse_dtype(&args.dtype)?;
    options.resume = args.resume.clone();
    options.resume_schedule = Overrides {
        steps: args.steps,
        val_every: args.val_every,
        val_tasks: args.val_tasks,
        save_every: args.save_every,
        ..Overrides::default()
    };
    options.stop = stop;
    options.progress = !args.no_progress;
    let outcome = train(&plugin, options)?;
    let last = outcome.metrics.last();
    println!(
        "{} after step {} of `{env}`; run directory {}",
        if outcome.interrupted {
            "stopped"
        } else {
            "finished"
        },
        outcome.step,
        out.display()
    );
    if let Some(m) = last {
        for key in [
            "episode/success_rate",
            "val/pass@1",
            "val/pass@2",
            "val/pass@3",
        ] {
            if let Some(v) = m.get(key) {
                println!("  {key} = {v:.3}");
            }
        }
    }
    if let Some(ckpt) = &outcome.checkpoint {
        println!("checkpoint: {}", ckpt.display());
    }
    // The recipe the trainer ran (a resumed run's own), as it wrote it.
    let ran = Recipe::from_file(&out.join("recipe.toml")).unwrap_or(recipe);
    report_learning(
        &ran,
        &out,
        &outcome.metrics,
        untrained.as_ref(),
        warm.as_ref(),
    )?;
    print_next_commands(&args, &out, outcome.step, outcome.interrupted);
    Ok(())
}

/// The warm-started built-in model this run trains, if it warm-starts: see
/// `--warm-start`. A plugin without an expert is trained from the untrained
/// model, with a note.
fn prepare_warm_start(
    args: &TrainArgs,
    plugin: &lamer_plugin::Plugin,
    recipe: &Recipe,
) -> anyhow::Result<Option<WarmStart>> {
    if args.warm_start == WarmStartMode::Off || args.model.is_some() || args.resume.is_some() {
        return Ok(None);
    }
    if !has_expert(plugin, recipe)? {
        eprintln!(
            "note: `{}` has no expert, so the built-in model starts untrained (pass --model to \
             start from a trained one)",
            recipe.env.name
        );
        return Ok(None);
    }
    let config = default_warm_start();
    let cache = lamer_policy::tiny::cache_root()?.join("models");
    let progress = |e: &SftEpoch| {
        println!(
            "  warm start epoch {}/{}: loss {:.4} nats/token",
            e.epoch, config.epochs, e.loss
        );
    };
    println!(
        "warm start: fine-tuning the built-in model on `{}`'s expert ({} expert, {} \
         reflection and {} recovery trials, {} epochs) unless a cached one matches; \
         --warm-start off skips it",
        recipe.env.name,
        config.expert_tasks,
        config.reflection_tasks,
        config.recovery_tasks,
        config.epochs
    );
    let warm = warm_start(plugin, recipe, &config, &cache, progress)?;
    println!(
        "warm start: {} {} ({} demonstrations, {:.0} s to train)",
        if warm.reused { "reusing" } else { "cached" },
        warm.dir.display(),
        warm.record.demonstrations,
        warm.record.seconds
    );
    Ok(Some(warm))
}

/// Prints the run's validations before → after, and draws them as
/// `learning.svg` in the run directory.
fn report_learning(
    recipe: &Recipe,
    out: &std::path::Path,
    records: &[crate::train::metrics::StepMetrics],
    untrained: Option<&crate::train::metrics::StepMetrics>,
    warm: Option<&WarmStart>,
) -> anyhow::Result<()> {
    let mut stages: Vec<Stage> = untrained
        .and_then(|m| Stage::from_metrics("untrained built-in model", m))
        .into_iter()
        .collect();
    let start = if warm.is_some() {
        "warm start"
    } else {
        "start"
    };
    stages.extend(run_stages(records, start));
    if stages.len() < 2 {
        return Ok(());
    }
    let s = &recipe.schedule;
    let draw = match s.val_task_draw {
        crate::train::recipe::ValTaskDraw::Fixed => "the same tasks at every stage",
        crate::train::recipe::ValTaskDraw::Fresh => "fresh tasks at every validation",
    };
    let title = format!(
        "{} · held-out split {} · n = {} tasks ({draw}) · seed {}",
        recipe.env.name, recipe.env.val_split, s.val_tasks, s.seed
    );
    println!(
        "validation on held-out `{}` tasks (n = {}):",
        recipe.env.val_split, s.val_tasks
    );
    for line in table(&stages) {
        println!("{line}");
    }
    let path = out.join("learning.svg");
    std::fs::write(&path, learning_svg(&title, &stages))
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("plot: {}", path.display());
    Ok(())
}

/// The exact commands to continue the run and to evaluate what it trained.
fn print_next_commands(args: &TrainArgs, out: &std::path::Path, step: usize, interrupted: bool) {
    let plugin = shell_word(&args.plugin.plugin.display().to_string());
    let run = shell_word(&out.display().to_string());
    let more = if interrupted {
        String::new()
    } else {
        format!(" --steps {}", step + step.max(1))
    };
    println!("continue: lamer-host train --plugin {plugin} --resume {run}{more}");
    let model = out.join("model");
    if model.join("config.json").is_file() {
        let model = shell_word(&model.display().to_string());
        println!("evaluate: lamer-host eval --plugin {plugin} --model {model}");
    }
}

/// `word` quoted for a POSIX shell when it needs to be.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
