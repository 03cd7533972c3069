//! `lamer-host sft`: warm-start a model by imitating the plugin's expert
//! (with templated reflections), and write it as a model directory.

use std::path::PathBuf;

use clap::Args;

use super::plugin_args::PluginArgs;
use super::train::effective_recipe;
use crate::train::recipe::{Overrides, Scale};
use crate::train::sft::{
    SftConfig, demonstration_rows, export_model_dir, tokenize_demos, train_sft,
};
use crate::train::trainer::Learner;

/// Flags of `lamer-host sft`.
#[derive(Debug, Clone, Args)]
pub struct SftArgs {
    #[command(flatten)]
    pub plugin: PluginArgs,

    /// Recipe TOML for the env config, prompts' memory mode and lengths; its
    /// keys layer over the built-in recipe of the plugin's environment, or
    /// the generic default when there is none [default: that base alone].
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,

    /// Model to fine-tune: a Hugging Face directory, a hub id, a run or
    /// checkpoint directory of ours, or a PEFT adapter directory [default: the
    /// built-in tiny model].
    #[arg(long, value_name = "DIR")]
    pub model: Option<String>,

    /// Where to write the fine-tuned model directory (usable as --model).
    #[arg(long, value_name = "DIR", default_value = "runs/sft/model")]
    pub out: PathBuf,

    /// Training tasks played by the expert alone.
    #[arg(long, default_value_t = 64)]
    pub expert_tasks: usize,

    /// Training tasks played as random attempt → reflection → expert.
    #[arg(long, default_value_t = 64)]
    pub reflection_tasks: usize,

    /// Training tasks played as a few random turns, then the expert from
    /// where they led (only the expert's turns are demonstrations).
    #[arg(long, default_value_t = 0)]
    pub recovery_tasks: usize,

    /// Passes over all demonstrations.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,

    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,

    /// Demonstrations per optimiser update.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,

    /// Demonstrations per forward/backward pass; gradients accumulate over
    /// --batch (the result is the same update, with less memory).
    #[arg(long, default_value_t = 4)]
    pub micro_batch: usize,

    /// Recompute decoder layers in backward instead of keeping their
    /// activations: `auto` (when the memory plan does not fit without it),
    /// `on` or `off` [default: the recipe's `optim.activation_checkpointing`, auto].
    #[arg(long, value_name = "auto|on|off")]
    pub activation_checkpointing: Option<lamer_policy::memory::Checkpointing>,

    /// Seed of the demonstrations' tasks, the random first attempts and the
    /// shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Device: `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    pub device: String,

    /// Weights dtype: f32, bf16 or f16.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
}

/// Runs `lamer-host sft`.
pub fn run(args: SftArgs) -> anyhow::Result<()> {
    let plugin = args.plugin.load()?;
    let env = lamer_plugin::EnvFactory::info(&plugin).name.clone();
    let json = args.plugin.config_json()?;
    let env_config: toml::Table = if json.trim().is_empty() {
        toml::Table::new()
    } else {
        serde_json::from_str(&json)?
    };
    let overrides = Overrides {
        env_config: (!env_config.is_empty()).then_some(env_config),
        activation_checkpointing: args.activation_checkpointing,
        ..Overrides::default()
    };
    let mut recipe = effective_recipe(
        args.recipe.as_ref(),
        lamer_plugin::EnvFactory::info(&plugin),
        Scale::Paper,
        true,
        &overrides,
    )?;
    // SFT trains every weight: LoRA adapters would not make a model directory.
    recipe.optim.lora = None;
    let config = SftConfig {
        expert_tasks: args.expert_tasks,
        reflection_tasks: args.reflection_tasks,
        recovery_tasks: args.recovery_tasks,
        epochs: args.epochs,
        lr: args.lr,
        batch: args.batch,
        micro_batch: args.micro_batch,
        grad_clip: recipe.optim.grad_clip,
        seed: args.seed,
    };
    let device = lamer_policy::loading::parse_device(&args.device)?;
    let dtype = lamer_policy::loading::parse_dtype(&args.dtype)?;
    let mut learner = Learner::load(args.model.as_deref(), &recipe, &device, dtype)?;
    let rows = demonstration_rows(&plugin, &recipe, &config)?;
    let demos = tokenize_demos(&learner.policy, &rows)?;
    let reflections = demos
        .iter()
        .filter(|d| d.phase == crate::rollout::Phase::Reflect)
        .count();
    println!(
        "{} demonstrations from `{env}` ({} reflections); fine-tuning {} parameters",
        demos.len(),
        reflections,
        learner.params.parameter_count()
    );
    train_sft(&mut learner, &demos, &config, |e| {
        println!(
            "epoch {}: loss {:.4} nats/token, grad norm {:.3}",
            e.epoch, e.loss, e.grad_norm
        );
    })?;
    let dir = export_model_dir(&learner, &args.out)?;
    println!("wrote {} (use it with --model)", dir.display());
    Ok(())
}
