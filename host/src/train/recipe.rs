//! # Recipes: a training run's settings in one TOML file
//!
//! A recipe mirrors the paper's settings for one environment (γ_step 0.95,
//! γ_traj per env, turns, group size, attempts, prompt/response lengths,
//! sampling, learning rate, steps, tasks per step, validation and checkpoint
//! cadence). The shipped recipes live in `examples/recipes/` and are embedded
//! in the binary, so `lamer-host train --plugin P` picks the one named after
//! the plugin's environment.
//!
//! The paper's numbers need GPUs and a 4B model. Every recipe therefore also
//! has a `[scale]` section: overrides that make the same run fit the built-in
//! tiny model on two CPU cores in minutes. [`Scale::Auto`] applies them when
//! no real model is given. Command-line flags ([`Overrides`]) apply last.
//!
//! A recipe file need not say everything: its keys **layer over a base**
//! ([`Recipe::resolve`]). The base is the built-in recipe of the plugin's
//! environment when there is one, else the generic default
//! ([`GENERIC_RECIPE`], `lamer-host recipe show default`) with the plugin's
//! name and default turn limit filled in. Tables merge key by key; any other
//! value replaces the base's. Unknown keys are refused, naming the key. Every
//! key is documented in `docs/recipes.md`.
//!
//! **Turns per attempt are decided in one place**: `trial.max_turns`. When
//! the plugin's config has a `max_turns` key, the host passes the same number
//! to it ([`Recipe::bind_turns`]); a recipe (or `--config`) that sets
//! `env.config.max_turns` to anything else is refused.
//!
//! The algorithm ([`Algo`]) is chosen at run time: `lamer` trains trials of N
//! attempts with reflection; the RL baselines `gigpo`/`grpo` train single
//! attempts with N× as many trials per task, so every algorithm sees the same
//! number of trajectories per task, and are validated with N independent
//! attempts without reflection — as the paper compares them.

use std::path::Path;

use lamer_policy::memory::Checkpointing;
use serde::{Deserialize, Serialize};

use super::advantages::Estimator;
use super::ppo::PpoConfig;
use super::returns::ReturnVariant;
use crate::agent::{MemoryMode, ValidityRule};
use crate::rollout::TrialMode;

/// The shipped recipes, by environment name.
pub const BUILTIN_RECIPES: &[(&str, &str)] = &[
    (
        "keydoor",
        include_str!("../../../examples/recipes/keydoor.toml"),
    ),
    (
        "sokoban",
        include_str!("../../../examples/recipes/sokoban.toml"),
    ),
    (
        "minesweeper",
        include_str!("../../../examples/recipes/minesweeper.toml"),
    ),
    (
        "webshop",
        include_str!("../../../examples/recipes/webshop.toml"),
    ),
    (
        "alfworld",
        include_str!("../../../examples/recipes/alfworld.toml"),
    ),
];

/// The generic default a recipe file layers over when the plugin's
/// environment has no built-in recipe (`env.name` and `trial.max_turns` come
/// from the plugin).
pub const GENERIC_RECIPE: &str = include_str!("../../templates/recipes/default.toml");

/// The text of a built-in recipe by environment name, or of the generic
/// default by `default`.
pub fn builtin_text(name: &str) -> Option<&'static str> {
    if name == "default" {
        return Some(GENERIC_RECIPE);
    }
    BUILTIN_RECIPES
        .iter()
        .find(|(env, _)| *env == name)
        .map(|(_, text)| *text)
}

/// Why a recipe could not be loaded or is unusable.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("cannot read recipe {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("recipe {origin} is not valid TOML for a recipe: {message}")]
    Parse { origin: String, message: String },
    #[error("no built-in recipe for environment `{env}`; pass --recipe FILE (built-in: {known})")]
    NoBuiltin { env: String, known: String },
    #[error("recipe is invalid: {0}")]
    Invalid(String),
}

/// The training algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Algo {
    /// Meta-RL: N attempts per trial with reflection, cross-episode returns, GiGPO.
    #[default]
    Lamer,
    /// Single-episode GiGPO with N× the group size.
    Gigpo,
    /// Single-episode GRPO with N× the group size.
    Grpo,
}

impl Algo {
    pub fn as_str(self) -> &'static str {
        match self {
            Algo::Lamer => "lamer",
            Algo::Gigpo => "gigpo",
            Algo::Grpo => "grpo",
        }
    }
}

/// Which scale to run at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// `tiny` when no model is given (the built-in tiny model), else `paper`.
    #[default]
    Auto,
    /// The recipe's main sections as written (the paper's settings).
    Paper,
    /// The main sections with the `[scale]` overrides applied.
    Tiny,
}

/// The environment to train on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSection {
    /// The environment's name (as its plugin reports it).
    pub name: String,
    /// Session config merged onto the environment's defaults.
    #[serde(default)]
    pub config: toml::Table,
    #[serde(default = "default_train_split")]
    pub train_split: String,
    #[serde(default = "default_val_split")]
    pub val_split: String,
}

fn default_train_split() -> String {
    "train".into()
}
fn default_val_split() -> String {
    "test".into()
}

/// The meta-RL trial and its credit assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialSection {
    /// N: attempts per trial.
    pub attempts: u32,
    /// G: trials per task for LaMer (the baselines use N·G single attempts).
    pub group_size: usize,
    #[serde(default)]
    pub memory: MemoryMode,
    /// LLM turns per attempt (the paper's `max_turns`). The one setting of
    /// the turn limit: it is also given to the plugin as its `max_turns`
    /// config when the plugin has that key ([`Recipe::bind_turns`]).
    pub max_turns: u32,
    /// Discount between turns of an attempt.
    pub gamma_step: f64,
    /// Discount between attempts.
    pub gamma_traj: f64,
    /// The official code's cross-episode return (default) or the paper's formula.
    #[serde(default)]
    pub return_variant: ReturnVariant,
    /// Subtracted from a row's episode score when the turn was invalid.
    pub invalid_penalty: f64,
    /// What counts as an invalid turn: `format` (missing or malformed tags,
    /// or an action the environment cannot read: the official rule) or
    /// `env-accepted` (also an action the environment does not admit, e.g.
    /// an inadmissible ALFWorld command).
    #[serde(default)]
    pub validity: ValidityRule,
    /// Turns per attempt at validation when they differ from training (the
    /// official ALFWorld evaluation plays 30); also given to the plugin as
    /// its `max_turns` config for validation.
    #[serde(default)]
    pub val_max_turns: Option<u32>,
    /// Weight of GiGPO's step-level advantage.
    #[serde(default = "one")]
    pub step_advantage_weight: f64,
}

fn one() -> f64 {
    1.0
}

/// Token budgets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LengthSection {
    pub max_prompt_tokens: usize,
    pub max_new_tokens: usize,
}

/// One sampling setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingSection {
    pub temperature: f32,
    pub top_p: f32,
    /// 0 disables top-k.
    pub top_k: usize,
    /// Divides a positive logit (multiplies a negative one) of every token
    /// already in the prompt or the response; 1 is off. The official
    /// evaluation uses 1.05.
    #[serde(default = "one_f32")]
    pub repetition_penalty: f32,
}

fn one_f32() -> f32 {
    1.0
}

impl SamplingSection {
    pub fn params(&self, max_new_tokens: usize) -> lamer_policy::SamplingParams {
        lamer_policy::SamplingParams {
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            max_new_tokens,
            repetition_penalty: self.repetition_penalty,
        }
    }
}

/// Training and validation sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingSections {
    pub train: SamplingSection,
    pub eval: SamplingSection,
}

/// LoRA adapters instead of full fine-tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraSection {
    pub rank: usize,
    pub alpha: f64,
}

/// The optimiser and the update's batching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimSection {
    pub lr: f64,
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    #[serde(default = "default_eps")]
    pub eps: f64,
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    /// Clip the global gradient norm to this.
    #[serde(default = "one")]
    pub grad_clip: f64,
    /// Rows per optimiser step.
    pub mini_batch: usize,
    /// Rows per forward/backward (gradients accumulate over a mini-batch).
    pub micro_batch: usize,
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Train LoRA adapters of this shape instead of all weights.
    #[serde(default)]
    pub lora: Option<LoraSection>,
    /// Recompute decoder layers in backward instead of keeping their
    /// activations: `auto` (when the memory plan needs it), `on` or `off`.
    /// It changes memory and time, not the update.
    #[serde(default, skip_serializing_if = "is_auto")]
    pub activation_checkpointing: Checkpointing,
}

fn is_auto(c: &Checkpointing) -> bool {
    *c == Checkpointing::Auto
}

fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}
fn default_weight_decay() -> f64 {
    0.01
}
fn default_epochs() -> usize {
    1
}

/// How long to train, and how often to validate and save.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSection {
    pub steps: usize,
    pub tasks_per_step: usize,
    /// Validate every this many steps (0: never during training).
    pub val_every: usize,
    /// Held-out tasks per validation.
    pub val_tasks: usize,
    /// Validate once before the first step.
    #[serde(default = "yes")]
    pub val_before_train: bool,
    /// Which held-out tasks each validation plays: `fixed` (the first
    /// `val_tasks` of the split every time) or `fresh` (new tasks drawn from
    /// the run seed and the step at every validation, as the official code
    /// draws new seeds).
    #[serde(default)]
    pub val_task_draw: ValTaskDraw,
    /// Save a checkpoint every this many steps (0: only at the end).
    pub save_every: usize,
    /// The run seed: task sampling, rollouts and initialisation derive from it.
    #[serde(default)]
    pub seed: u64,
}

fn yes() -> bool {
    true
}

/// Which held-out tasks a validation plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValTaskDraw {
    /// The first `val_tasks` tasks of the split, at every validation.
    #[default]
    Fixed,
    /// `val_tasks` tasks drawn anew at every validation (official).
    Fresh,
}

/// How the single-episode RL baselines (`--algo gigpo|grpo`) train and are
/// evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineSection {
    /// Attempts per training trial. 1 (the default) is a single-episode
    /// baseline with N·G trials per task, the paper's equal budget; more
    /// attempts train trials with reflection and cross-episode returns like
    /// LaMer, which is what the official MineSweeper baseline scripts do
    /// (`env.num_attempts=3`, group 24).
    #[serde(default = "one_attempt")]
    pub train_attempts: u32,
    /// How the N validation attempts are played: `carry-over` (official:
    /// no reflection, the history runs on from the earlier attempts; the
    /// paper recipes) or `zero-shot` (clean independent attempts; the default
    /// of a recipe that does not say).
    #[serde(default = "zero_shot")]
    pub val_mode: TrialMode,
}

fn one_attempt() -> u32 {
    1
}
fn zero_shot() -> TrialMode {
    TrialMode::ZeroShot
}

impl Default for BaselineSection {
    fn default() -> Self {
        BaselineSection {
            train_attempts: one_attempt(),
            val_mode: zero_shot(),
        }
    }
}

/// Overrides of a recipe's settings: the `[scale]` section and the CLI flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    pub steps: Option<usize>,
    pub tasks_per_step: Option<usize>,
    pub group_size: Option<usize>,
    pub attempts: Option<u32>,
    pub max_new_tokens: Option<usize>,
    pub max_prompt_tokens: Option<usize>,
    pub val_every: Option<usize>,
    pub val_tasks: Option<usize>,
    pub save_every: Option<usize>,
    pub lr: Option<f64>,
    pub mini_batch: Option<usize>,
    pub micro_batch: Option<usize>,
    pub activation_checkpointing: Option<Checkpointing>,
    pub seed: Option<u64>,
    pub gamma_traj: Option<f64>,
    /// Which held-out tasks each validation plays (`[scale]` only: the tiny
    /// run validates on the same tasks, so its before → after compares like
    /// with like).
    pub val_task_draw: Option<ValTaskDraw>,
    /// Env config keys merged onto `[env.config]`.
    pub env_config: Option<toml::Table>,
}

impl Overrides {
    /// The flags that are set and would change what a run means (everything
    /// but the length of the run and its validation and checkpoint cadence),
    /// by their command-line names.
    pub fn meaning_changes(&self) -> Vec<&'static str> {
        let set = [
            ("--tasks-per-step", self.tasks_per_step.is_some()),
            ("--group-size", self.group_size.is_some()),
            ("--attempts", self.attempts.is_some()),
            ("--max-new-tokens", self.max_new_tokens.is_some()),
            ("--max-prompt-tokens", self.max_prompt_tokens.is_some()),
            ("--lr", self.lr.is_some()),
            ("--mini-batch", self.mini_batch.is_some()),
            ("--micro-batch", self.micro_batch.is_some()),
            ("--seed", self.seed.is_some()),
            ("--gamma-traj", self.gamma_traj.is_some()),
            ("val_task_draw", self.val_task_draw.is_some()),
            ("--config", self.env_config.is_some()),
        ];
        set.into_iter()
            .filter(|(_, on)| *on)
            .map(|(name, _)| name)
            .collect()
    }

    /// Applies every set field to `recipe`.
    pub fn apply(&self, recipe: &mut Recipe) {
        fn set<T: Clone>(dst: &mut T, src: &Option<T>) {
            if let Some(v) = src {
                *dst = v.clone();
            }
        }
        set(&mut recipe.schedule.steps, &self.steps);
        set(&mut recipe.schedule.tasks_per_step, &self.tasks_per_step);
        set(&mut recipe.trial.group_size, &self.group_size);
        set(&mut recipe.trial.attempts, &self.attempts);
        set(&mut recipe.lengths.max_new_tokens, &self.max_new_tokens);
        set(
            &mut recipe.lengths.max_prompt_tokens,
            &self.max_prompt_tokens,
        );
        set(&mut recipe.schedule.val_every, &self.val_every);
        set(&mut recipe.schedule.val_tasks, &self.val_tasks);
        set(&mut recipe.schedule.save_every, &self.save_every);
        set(&mut recipe.optim.lr, &self.lr);
        set(&mut recipe.optim.mini_batch, &self.mini_batch);
        set(&mut recipe.optim.micro_batch, &self.micro_batch);
        set(
            &mut recipe.optim.activation_checkpointing,
            &self.activation_checkpointing,
        );
        set(&mut recipe.schedule.seed, &self.seed);
        set(&mut recipe.trial.gamma_traj, &self.gamma_traj);
        set(&mut recipe.schedule.val_task_draw, &self.val_task_draw);
        if let Some(extra) = &self.env_config {
            for (k, v) in extra {
                recipe.env.config.insert(k.clone(), v.clone());
            }
        }
    }
}

/// A whole recipe file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub env: EnvSection,
    pub trial: TrialSection,
    pub lengths: LengthSection,
    pub sampling: SamplingSections,
    pub optim: OptimSection,
    #[serde(default)]
    pub ppo: PpoConfig,
    pub schedule: ScheduleSection,
    #[serde(default)]
    pub baselines: BaselineSection,
    /// Overrides for the tiny CPU scale.
    #[serde(default)]
    pub scale: Overrides,
}

impl Recipe {
    /// Parses a complete recipe's text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, RecipeError> {
        Self::from_table(parse_table(text, origin)?, origin)
    }

    /// Reads a complete recipe file (no layering: see [`Recipe::resolve`]).
    pub fn from_file(path: &Path) -> Result<Self, RecipeError> {
        let text = std::fs::read_to_string(path).map_err(|source| RecipeError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The shipped recipe for an environment.
    pub fn builtin(env: &str) -> Result<Self, RecipeError> {
        let (_, text) = BUILTIN_RECIPES
            .iter()
            .find(|(name, _)| *name == env)
            .ok_or_else(|| RecipeError::NoBuiltin {
                env: env.to_string(),
                known: BUILTIN_RECIPES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Self::from_toml(text, &format!("examples/recipes/{env}.toml"))
    }

    /// The base a recipe file layers over for the plugin `info`: the
    /// built-in recipe of its environment, else [`GENERIC_RECIPE`] with the
    /// plugin's name and default turn limit.
    pub fn base_table(info: &lamer_sdk::EnvInfo) -> Result<toml::Table, RecipeError> {
        let builtin = BUILTIN_RECIPES.iter().find(|(env, _)| *env == info.name);
        let (text, origin) = match builtin {
            Some((env, text)) => (*text, format!("examples/recipes/{env}.toml")),
            None => (GENERIC_RECIPE, "the generic default recipe".to_string()),
        };
        let mut table = parse_table(text, &origin)?;
        if builtin.is_none() {
            let mut name = toml::Table::new();
            name.insert("name".into(), toml::Value::String(info.name.clone()));
            let mut turns = toml::Table::new();
            let max_turns = toml::Value::Integer(info.default_max_turns.into());
            turns.insert("max_turns".into(), max_turns);
            layer(
                &mut table,
                toml::Table::from_iter([
                    ("env".to_string(), toml::Value::Table(name)),
                    ("trial".to_string(), toml::Value::Table(turns)),
                ]),
            );
        }
        Ok(table)
    }

    /// The recipe a run on the plugin `info` uses: the file at `path` layered
    /// over [`Recipe::base_table`], or the base alone without a file.
    pub fn resolve(path: Option<&Path>, info: &lamer_sdk::EnvInfo) -> Result<Self, RecipeError> {
        let mut table = Self::base_table(info)?;
        let origin = match path {
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|source| RecipeError::Read {
                    path: shown.clone(),
                    source,
                })?;
                layer(&mut table, parse_table(&text, &shown)?);
                shown
            }
            None => format!("the default recipe of `{}`", info.name),
        };
        Self::from_table(table, &origin)
    }

    /// A recipe from a TOML table that holds every required key.
    pub fn from_table(table: toml::Table, origin: &str) -> Result<Self, RecipeError> {
        let recipe: Recipe =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| RecipeError::Parse {
                    origin: origin.to_string(),
                    message: one_line_value_error(&e),
                })?;
        recipe.validate()?;
        Ok(recipe)
    }

    /// Makes `trial.max_turns` the plugin's limit too: sets the env config's
    /// `max_turns` to it when the plugin's default config (`info`) has that
    /// key. Call it after [`Recipe::validate`], which refuses a recipe whose
    /// `env.config.max_turns` says otherwise.
    pub fn bind_turns(&mut self, info: &lamer_sdk::EnvInfo) {
        let has_key = serde_json::from_str::<serde_json::Value>(&info.default_config)
            .ok()
            .is_some_and(|c| c.get("max_turns").is_some());
        if has_key {
            let turns = toml::Value::Integer(self.trial.max_turns.into());
            self.env.config.insert("max_turns".into(), turns);
        }
    }

    /// The recipe as TOML (for checkpoints and run directories).
    pub fn to_toml(&self) -> Result<String, RecipeError> {
        toml::to_string_pretty(self).map_err(|e| RecipeError::Invalid(e.to_string()))
    }

    /// The recipe at a scale: `[scale]` applied for [`Scale::Tiny`].
    pub fn at_scale(mut self, scale: Scale, have_model: bool) -> Self {
        let tiny = match scale {
            Scale::Auto => !have_model,
            Scale::Paper => false,
            Scale::Tiny => true,
        };
        if tiny {
            let overrides = self.scale.clone();
            overrides.apply(&mut self);
        }
        self
    }

    /// The env config as the JSON a session is opened with.
    pub fn env_config_json(&self) -> String {
        if self.env.config.is_empty() {
            String::new()
        } else {
            // A toml::Table always serialises to JSON (no NaN keys etc.).
            serde_json::to_string(&self.env.config).unwrap_or_default()
        }
    }

    /// The env config of validation: [`Recipe::env_config_json`] with
    /// `max_turns` set to `trial.val_max_turns` when the recipe has one.
    pub fn val_env_config_json(&self) -> String {
        let Some(turns) = self.trial.val_max_turns else {
            return self.env_config_json();
        };
        let mut config = self.env.config.clone();
        config.insert("max_turns".into(), toml::Value::Integer(turns.into()));
        serde_json::to_string(&config).unwrap_or_default()
    }

    /// Turns per attempt at validation.
    pub fn val_max_turns(&self) -> u32 {
        self.trial.val_max_turns.unwrap_or(self.trial.max_turns)
    }

    /// Checks the settings that would otherwise fail deep inside a run.
    pub fn validate(&self) -> Result<(), RecipeError> {
        let bad = |m: String| Err(RecipeError::Invalid(m));
        let t = &self.trial;
        if t.attempts == 0 || t.group_size == 0 || t.max_turns == 0 {
            return bad(
                "trial.attempts, trial.group_size and trial.max_turns must be at least 1".into(),
            );
        }
        for (name, g) in [("gamma_step", t.gamma_step), ("gamma_traj", t.gamma_traj)] {
            if !(0.0..=1.0).contains(&g) {
                return bad(format!("trial.{name} must be in [0, 1], got {g}"));
            }
        }
        let o = &self.optim;
        if o.mini_batch == 0 || o.micro_batch == 0 {
            return bad("optim.mini_batch and optim.micro_batch must be at least 1".into());
        }
        let not_positive = |x: f64| x.is_nan() || x <= 0.0;
        if not_positive(o.lr) || not_positive(o.grad_clip) {
            return bad("optim.lr and optim.grad_clip must be positive".into());
        }
        if o.epochs == 0 {
            return bad("optim.epochs must be at least 1".into());
        }
        if self.schedule.tasks_per_step == 0 {
            return bad("schedule.tasks_per_step must be at least 1".into());
        }
        if self.lengths.max_new_tokens == 0 {
            return bad("lengths.max_new_tokens must be at least 1".into());
        }
        for (name, s) in [
            ("train", &self.sampling.train),
            ("eval", &self.sampling.eval),
        ] {
            if !(s.repetition_penalty.is_finite() && s.repetition_penalty > 0.0) {
                return bad(format!(
                    "sampling.{name}.repetition_penalty must be positive (1 is off), got {}",
                    s.repetition_penalty
                ));
            }
        }
        if let Some(turns) = self.env.config.get("max_turns")
            && turns.as_integer() != Some(self.trial.max_turns.into())
        {
            return bad(format!(
                "env.config.max_turns ({turns}) disagrees with trial.max_turns ({}); \
                 trial.max_turns alone decides the turns per attempt (the host passes it to \
                 the plugin), so drop env.config.max_turns from the recipe and --config",
                self.trial.max_turns
            ));
        }
        if self.baselines.train_attempts == 0 || self.trial.val_max_turns == Some(0) {
            return bad(
                "baselines.train_attempts and trial.val_max_turns must be at least 1".into(),
            );
        }
        Ok(())
    }

    /// What `algo` does with this recipe.
    pub fn plan(&self, algo: Algo) -> Plan {
        let n = self.trial.attempts;
        let g = self.trial.group_size;
        match algo {
            Algo::Lamer => Plan {
                algo,
                train_attempts: n,
                train_group_size: g,
                train_mode: TrialMode::Reflexion,
                estimator: Estimator::Gigpo,
                gamma_traj: self.trial.gamma_traj,
                val_attempts: n,
                val_mode: TrialMode::Reflexion,
            },
            Algo::Gigpo | Algo::Grpo => {
                let attempts = self.baselines.train_attempts;
                let multi = attempts > 1;
                Plan {
                    algo,
                    train_attempts: attempts,
                    train_group_size: g * n as usize,
                    // More than one attempt: the official scripts keep
                    // reflection on (`do_reflection` defaults to true).
                    train_mode: if multi {
                        TrialMode::Reflexion
                    } else {
                        TrialMode::ZeroShot
                    },
                    estimator: if algo == Algo::Gigpo {
                        Estimator::Gigpo
                    } else {
                        Estimator::Grpo
                    },
                    // One attempt: nothing crosses episodes.
                    gamma_traj: if multi { self.trial.gamma_traj } else { 0.0 },
                    val_attempts: n,
                    val_mode: self.baselines.val_mode,
                }
            }
        }
    }
}

/// Layers `over` onto `base`: tables merge key by key, any other value
/// replaces the base's.
pub fn layer(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => layer(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Parses TOML text into a table, with a one-line error.
fn parse_table(text: &str, origin: &str) -> Result<toml::Table, RecipeError> {
    toml::from_str(text).map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
        let at = line.map(|l| format!("line {l}: ")).unwrap_or_default();
        RecipeError::Parse {
            origin: origin.to_string(),
            message: format!("{at}{}", e.message()),
        }
    })
}

/// A deserialisation error as one line that names the recipe key, e.g.
/// "unknown key `trial.gama_traj`, expected one of …".
fn one_line_value_error(e: &toml::de::Error) -> String {
    let text = e.to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let what = lines.next().unwrap_or_default().to_string();
    let at = lines.find_map(|l| l.strip_prefix("in `")?.strip_suffix('`'));
    let unknown = what
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'));
    match (unknown, at) {
        (Some((key, rest)), Some(at)) => format!("unknown key `{at}.{key}`{rest}"),
        (Some((key, rest)), None) => format!("unknown key `{key}`{rest}"),
        (None, Some(at)) => format!("`{at}`: {what}"),
        (None, None) => what,
    }
}

/// The effective per-algorithm settings of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub algo: Algo,
    pub train_attempts: u32,
    pub train_group_size: usize,
    pub train_mode: TrialMode,
    pub estimator: Estimator,
    pub gamma_traj: f64,
    pub val_attempts: u32,
    pub val_mode: TrialMode,
}

impl Plan {
    /// Trajectories (episodes) per task per step, at most.
    pub fn trajectory_budget(&self) -> usize {
        self.train_group_size * self.train_attempts as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_recipe_parses_and_names_its_env() {
        for (name, _) in BUILTIN_RECIPES {
            let r = Recipe::builtin(name).unwrap();
            assert_eq!(&r.env.name, name);
            assert_eq!(r.trial.gamma_step, 0.95);
            assert_eq!(r.trial.attempts, 3);
            assert_eq!(r.optim.lr, 1e-6);
            assert_eq!(r.ppo, PpoConfig::default());
            // The tiny scale stays valid.
            let mut tiny = r.clone();
            r.scale.apply(&mut tiny);
            tiny.validate().unwrap();
        }
    }

    #[test]
    fn gamma_traj_follows_the_released_scripts() {
        assert_eq!(Recipe::builtin("sokoban").unwrap().trial.gamma_traj, 0.9);
        for env in ["minesweeper", "webshop", "alfworld"] {
            assert_eq!(Recipe::builtin(env).unwrap().trial.gamma_traj, 0.6, "{env}");
        }
    }

    #[test]
    fn paper_schedule_per_env() {
        for (env, steps, tasks) in [
            ("sokoban", 300, 16),
            ("minesweeper", 300, 16),
            ("webshop", 150, 8),
            ("alfworld", 150, 8),
        ] {
            let r = Recipe::builtin(env).unwrap();
            assert_eq!(
                (r.schedule.steps, r.schedule.tasks_per_step),
                (steps, tasks)
            );
            assert_eq!(r.trial.group_size, 8);
            assert_eq!(r.optim.mini_batch, 64);
        }
    }

    #[test]
    fn baselines_get_equal_trajectory_budgets() {
        let r = Recipe::builtin("sokoban").unwrap();
        let lamer = r.plan(Algo::Lamer);
        let gigpo = r.plan(Algo::Gigpo);
        let grpo = r.plan(Algo::Grpo);
        assert_eq!(lamer.trajectory_budget(), 24);
        assert_eq!(gigpo.trajectory_budget(), 24);
        assert_eq!(gigpo.train_group_size, 24);
        assert_eq!(gigpo.train_attempts, 1);
        assert_eq!(gigpo.val_attempts, 3);
        assert_eq!(gigpo.val_mode, TrialMode::CarryOver);
        assert_eq!(grpo.estimator, Estimator::Grpo);
        assert_eq!(lamer.train_mode, TrialMode::Reflexion);
    }

    #[test]
    fn scale_and_cli_overrides_apply_in_order() {
        let r = Recipe::builtin("keydoor").unwrap();
        let paper = r.clone().at_scale(Scale::Auto, true);
        assert_eq!(paper, r);
        let tiny = r.clone().at_scale(Scale::Auto, false);
        assert_ne!(tiny.schedule.steps, r.schedule.steps);
        let mut cli = tiny.clone();
        Overrides {
            steps: Some(2),
            group_size: Some(3),
            ..Overrides::default()
        }
        .apply(&mut cli);
        assert_eq!(cli.schedule.steps, 2);
        assert_eq!(cli.trial.group_size, 3);
        assert_eq!(cli.optim.lr, tiny.optim.lr);
    }

    #[test]
    fn minesweeper_baselines_train_three_attempts_as_the_official_scripts() {
        let r = Recipe::builtin("minesweeper").unwrap();
        let gigpo = r.plan(Algo::Gigpo);
        assert_eq!(gigpo.train_attempts, 3);
        assert_eq!(gigpo.train_group_size, 24);
        assert_eq!(gigpo.train_mode, TrialMode::Reflexion);
        assert_eq!(gigpo.gamma_traj, 0.6);
        // Everywhere else the baselines train single attempts.
        for env in ["sokoban", "webshop", "alfworld", "keydoor"] {
            let plan = Recipe::builtin(env).unwrap().plan(Algo::Grpo);
            assert_eq!(plan.train_attempts, 1, "{env}");
            assert_eq!(plan.gamma_traj, 0.0, "{env}");
        }
    }

    #[test]
    fn paper_recipes_run_the_official_behaviour() {
        for env in ["sokoban", "minesweeper", "webshop", "alfworld"] {
            let r = Recipe::builtin(env).unwrap();
            assert_eq!(r.schedule.val_task_draw, ValTaskDraw::Fresh, "{env}");
            assert_eq!(r.trial.validity, ValidityRule::Format, "{env}");
            assert_eq!(r.baselines.val_mode, TrialMode::CarryOver, "{env}");
        }
        let sokoban = Recipe::builtin("sokoban").unwrap();
        assert_eq!(
            sokoban.env.config.get("faithful"),
            Some(&toml::Value::Boolean(true))
        );
        assert_eq!(
            Recipe::builtin("alfworld").unwrap().trial.val_max_turns,
            Some(30)
        );
        for env in ["sokoban", "minesweeper", "webshop", "alfworld"] {
            let r = Recipe::builtin(env).unwrap();
            assert_eq!(r.sampling.eval.params(8).repetition_penalty, 1.05, "{env}");
            assert_eq!(r.sampling.train.params(8).repetition_penalty, 1.0, "{env}");
        }
        // A recipe that says nothing (keydoor's) keeps the fixed tasks.
        let keydoor = Recipe::builtin("keydoor").unwrap();
        assert_eq!(keydoor.schedule.val_task_draw, ValTaskDraw::Fixed);
        assert_eq!(keydoor.trial.val_max_turns, None);
        assert_eq!(keydoor.baselines.val_mode, TrialMode::ZeroShot);
    }

    #[test]
    fn round_trips_through_toml() {
        let r = Recipe::builtin("minesweeper").unwrap();
        let text = r.to_toml().unwrap();
        assert_eq!(Recipe::from_toml(&text, "round-trip").unwrap(), r);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        let text = include_str!("../../../examples/recipes/keydoor.toml");
        let typo = text.replacen("[trial]", "[trial]\ngama_traj = 0.5", 1);
        let err = Recipe::from_toml(&typo, "typo").unwrap_err().to_string();
        assert!(err.contains("gama_traj"), "{err}");
        let bad = text.replacen("gamma_traj = 0.6", "gamma_traj = 1.5", 1);
        let err = Recipe::from_toml(&bad, "bad").unwrap_err().to_string();
        assert!(err.contains("gamma_traj"), "{err}");
        assert!(Recipe::builtin("nope").is_err());
    }

    #[test]
    fn validation_turns_reach_the_plugin_config() {
        let alfworld = Recipe::builtin("alfworld").unwrap();
        assert_eq!(alfworld.val_max_turns(), 30);
        assert_eq!(alfworld.val_env_config_json(), r#"{"max_turns":30}"#);
        let sokoban = Recipe::builtin("sokoban").unwrap();
        assert_eq!(sokoban.val_max_turns(), 7);
        assert_eq!(sokoban.val_env_config_json(), sokoban.env_config_json());
    }

    fn plugin(name: &str, max_turns: u32, default_config: &str) -> lamer_sdk::EnvInfo {
        let mut info = lamer_sdk::EnvInfo::new(name, "0.1.0", "a test env", max_turns);
        info.default_config = default_config.into();
        info
    }

    fn partial(text: &str, info: &lamer_sdk::EnvInfo) -> Result<Recipe, RecipeError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("partial.toml");
        std::fs::write(&path, text).unwrap();
        Recipe::resolve(Some(&path), info)
    }

    #[test]
    fn a_partial_recipe_layers_over_the_builtin_of_its_env() {
        let keydoor = plugin("keydoor", 2, r#"{"doors":4,"max_turns":2}"#);
        let r = partial(
            "[trial]\ngamma_traj = 0.5\n[env.config]\ndoors = 6\n",
            &keydoor,
        )
        .unwrap();
        let mut expected = Recipe::builtin("keydoor").unwrap();
        expected.trial.gamma_traj = 0.5;
        expected
            .env
            .config
            .insert("doors".into(), toml::Value::Integer(6));
        assert_eq!(r, expected);
        // No file: the base alone.
        assert_eq!(
            Recipe::resolve(None, &keydoor).unwrap(),
            Recipe::builtin("keydoor").unwrap()
        );
    }

    #[test]
    fn a_partial_recipe_of_another_env_layers_over_the_generic_default() {
        let guess = plugin("guess", 5, r#"{"high":8,"max_turns":5}"#);
        let r = partial("[schedule]\nsteps = 7\n", &guess).unwrap();
        assert_eq!(r.env.name, "guess");
        assert_eq!(r.trial.max_turns, 5, "the plugin's default turn limit");
        assert_eq!(r.schedule.steps, 7);
        let base = Recipe::resolve(None, &guess).unwrap();
        assert_eq!(base.schedule.steps, 100);
        assert_eq!((base.trial.attempts, base.trial.gamma_traj), (3, 0.6));
        assert!(
            base.scale.steps.is_some(),
            "the generic default has a tiny scale"
        );
        assert!(Recipe::builtin("guess").is_err());
    }

    #[test]
    fn unknown_keys_and_bad_toml_are_one_line_errors_naming_the_key() {
        let keydoor = plugin("keydoor", 2, "{}");
        for (text, needle) in [
            (
                "[trial]\ngama_traj = 0.5\n",
                "unknown key `trial.gama_traj`",
            ),
            (
                "[sampling.eval]\ntopp = 0.5\n",
                "unknown key `sampling.eval.topp`",
            ),
            ("[schedul]\nsteps = 1\n", "unknown key `schedul`"),
            ("[trial]\nattempts = \"three\"\n", "`trial.attempts`"),
            ("[trial\nattempts = 3\n", "line 1"),
        ] {
            let err = partial(text, &keydoor).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }

    #[test]
    fn trial_max_turns_alone_decides_the_turns() {
        let guess = plugin("guess", 5, r#"{"high":8,"max_turns":5}"#);
        let err = partial(
            "[trial]\nmax_turns = 2\n[env.config]\nmax_turns = 4\n",
            &guess,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("env.config.max_turns (4)") && err.contains("trial.max_turns (2)"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
        // Saying the same number twice is redundant, not wrong.
        partial(
            "[trial]\nmax_turns = 2\n[env.config]\nmax_turns = 2\n",
            &guess,
        )
        .unwrap();
        // The plugin with a `max_turns` key gets trial.max_turns.
        let mut r = partial("[trial]\nmax_turns = 2\n", &guess).unwrap();
        r.bind_turns(&guess);
        assert_eq!(r.env_config_json(), r#"{"max_turns":2}"#);
        // One without it does not (it would reject the key).
        let mut r = partial(
            "[trial]\nmax_turns = 2\n",
            &plugin("guess", 5, r#"{"high":8}"#),
        )
        .unwrap();
        r.bind_turns(&plugin("guess", 5, r#"{"high":8}"#));
        assert_eq!(r.env_config_json(), "");
        // No built-in recipe sets the turns twice.
        for (name, _) in BUILTIN_RECIPES {
            assert!(
                !Recipe::builtin(name)
                    .unwrap()
                    .env
                    .config
                    .contains_key("max_turns"),
                "{name}"
            );
        }
    }

    /// The keys a section accepts, read from serde's unknown-field error, so
    /// a key added to a section type shows up here without editing the test.
    fn keys_of<T: serde::de::DeserializeOwned>() -> Vec<String> {
        let probe = toml::Table::from_iter([("zz_probe".to_string(), toml::Value::Integer(0))]);
        let err = toml::Value::Table(probe)
            .try_into::<T>()
            .err()
            .expect("every section denies unknown fields")
            .to_string();
        let (_, expected) = err.split_once("expected").expect("serde lists the fields");
        let first_line = expected.lines().next().unwrap_or_default();
        first_line
            .split('`')
            .skip(1)
            .step_by(2)
            .map(String::from)
            .collect()
    }

    #[test]
    fn activation_checkpointing_defaults_to_auto_and_round_trips_when_set() {
        let mut r = Recipe::builtin("keydoor").unwrap();
        assert_eq!(r.optim.activation_checkpointing, Checkpointing::Auto);
        assert!(!r.to_toml().unwrap().contains("activation_checkpointing"));
        Overrides {
            activation_checkpointing: Some(Checkpointing::On),
            ..Overrides::default()
        }
        .apply(&mut r);
        assert_eq!(r.optim.activation_checkpointing, Checkpointing::On);
        let back = Recipe::from_toml(&r.to_toml().unwrap(), "test").unwrap();
        assert_eq!(back.optim.activation_checkpointing, Checkpointing::On);
    }

    #[test]
    fn every_recipe_key_is_documented() {
        let doc = include_str!("../../../docs/recipes.md");
        let sections = [
            ("env", keys_of::<EnvSection>()),
            ("trial", keys_of::<TrialSection>()),
            ("lengths", keys_of::<LengthSection>()),
            ("sampling.train", keys_of::<SamplingSection>()),
            ("sampling.eval", keys_of::<SamplingSection>()),
            ("optim", keys_of::<OptimSection>()),
            ("optim.lora", keys_of::<LoraSection>()),
            ("ppo", keys_of::<PpoConfig>()),
            ("schedule", keys_of::<ScheduleSection>()),
            ("baselines", keys_of::<BaselineSection>()),
            ("scale", keys_of::<Overrides>()),
        ];
        // Every section of a recipe has its keys listed above.
        for top in keys_of::<Recipe>() {
            let sub = keys_of_section(&top);
            for path in sub {
                assert!(
                    sections.iter().any(|(s, _)| *s == path),
                    "recipe section `{path}` is missing from this test"
                );
            }
        }
        assert!(keys_of::<TrialSection>().contains(&"max_turns".to_string()));
        for (section, keys) in &sections {
            assert!(!keys.is_empty(), "no keys read for `{section}`");
            for key in keys {
                let name = format!("`{section}.{key}`");
                assert!(
                    doc.contains(&name),
                    "docs/recipes.md does not document {name}"
                );
            }
        }
    }

    /// A top-level recipe key as the section paths it holds.
    fn keys_of_section(top: &str) -> Vec<String> {
        match top {
            "sampling" => keys_of::<SamplingSections>()
                .into_iter()
                .map(|k| format!("sampling.{k}"))
                .collect(),
            other => vec![other.to_string()],
        }
    }

    #[test]
    fn builtin_texts_are_the_embedded_files() {
        assert_eq!(
            builtin_text("keydoor"),
            Some(include_str!("../../../examples/recipes/keydoor.toml"))
        );
        assert_eq!(builtin_text("default"), Some(GENERIC_RECIPE));
        assert_eq!(builtin_text("nope"), None);
    }

    #[test]
    fn env_config_becomes_json() {
        let mut r = Recipe::builtin("keydoor").unwrap();
        r.env.config.clear();
        assert_eq!(r.env_config_json(), "");
        r.env.config.insert("doors".into(), toml::Value::Integer(2));
        assert_eq!(r.env_config_json(), r#"{"doors":2}"#);
    }
}
