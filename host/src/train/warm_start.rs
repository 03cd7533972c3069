//! # Warm start: the built-in model imitates the plugin's expert before RL
//!
//! The built-in tiny model starts with random weights: it never writes an
//! `<action>` tag, every turn is invalid, every reward is the same, and RL
//! has nothing to reinforce. So a run on the built-in model first fine-tunes
//! it on the plugin's own expert (the SFT of [`super::sft`]: expert trials,
//! and failed random attempts followed by a reflection and the expert), the
//! way a researcher would start RL from an instruction-tuned model.
//!
//! The result is cached beside the tiny model, keyed by what determines it —
//! the tiny model's version, the SFT settings and the demonstrations' exact
//! text — so the second run on the same plugin starts at once, and a plugin
//! whose expert or prompts changed gets a new warm start. Any plugin whose
//! `expert-action` answers works, a user's own included; one without an
//! expert is trained from the untrained model, with a note saying so.

use std::path::{Path, PathBuf};
use std::time::Instant;

use lamer_plugin::EnvFactory;
use lamer_sdk::Task;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::recipe::Recipe;
use super::sft::{
    Demo, SftConfig, SftEpoch, demonstration_rows, export_model_dir, tokenize_demos, train_sft,
};
use super::trainer::{Learner, TrainError};
use crate::rollout::Phase;

/// The SFT a warm start runs: sized so that the tiny model learns the action
/// format and a first competence in a few minutes on two CPU cores.
pub fn default_warm_start() -> SftConfig {
    SftConfig {
        expert_tasks: 128,
        reflection_tasks: 48,
        recovery_tasks: 128,
        epochs: 4,
        lr: 3e-3,
        batch: 8,
        micro_batch: 4,
        grad_clip: 1.0,
        seed: 0,
    }
}

/// The most demonstration tokens (prompt and response) a warm start trains
/// on per epoch: environments with long prompts or long episodes (WebShop,
/// ALFWorld) get fewer demonstrations rather than a longer warm start.
pub const WARM_START_TOKEN_BUDGET: usize = 320_000;

/// What a warm start did, saved as `warm_start.json` in its model directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarmStartRecord {
    pub env: String,
    pub demonstrations: usize,
    pub reflections: usize,
    pub sft: SftConfig,
    pub epochs: Vec<SftEpoch>,
    pub seconds: f64,
}

/// A warm-started model directory, and whether it came from the cache.
#[derive(Debug, Clone)]
pub struct WarmStart {
    pub dir: PathBuf,
    pub record: WarmStartRecord,
    pub reused: bool,
}

const RECORD_FILE: &str = "warm_start.json";

/// Whether the plugin has an expert: it answers `expert-action` on the first
/// task of the recipe's training split.
pub fn has_expert(factory: &dyn EnvFactory, recipe: &Recipe) -> Result<bool, TrainError> {
    let env_err = |e| TrainError::Config(format!("probing the plugin's expert: {e}"));
    let mut session = factory.open(&recipe.env_config_json()).map_err(env_err)?;
    session
        .reset(&Task::new(&recipe.env.train_split, 0))
        .map_err(env_err)?;
    Ok(session.expert_action().map_err(env_err)?.is_some())
}

/// The warm-started built-in model for `recipe`'s environment: from the
/// cache under `cache_root` when it holds one for these demonstrations,
/// else trained now (`on_epoch` sees each SFT epoch) and cached.
pub fn warm_start(
    factory: &dyn EnvFactory,
    recipe: &Recipe,
    config: &SftConfig,
    cache_root: &Path,
    mut on_epoch: impl FnMut(&SftEpoch),
) -> Result<WarmStart, TrainError> {
    let mut recipe = recipe.clone();
    // SFT trains every weight: a LoRA adapter would not make a model directory.
    recipe.optim.lora = None;
    let mut learner = Learner::load(
        None,
        &recipe,
        &lamer_policy::Device::Cpu,
        lamer_policy::DType::F32,
    )?;
    let rows = demonstration_rows(factory, &recipe, config)?;
    let demos = within_budget(
        tokenize_demos(&learner.policy, &rows)?,
        WARM_START_TOKEN_BUDGET,
        config.seed,
    );
    if demos.is_empty() {
        return Err(TrainError::Config(
            "the warm start found no demonstration: the expert played no turn".into(),
        ));
    }
    let dir = cache_root.join(format!(
        "warm-{}-{}",
        sanitize(&recipe.env.name),
        cache_key(config, &demos)
    ));
    if let Some(record) = cached_record(&dir) {
        return Ok(WarmStart {
            dir,
            record,
            reused: true,
        });
    }
    let started = Instant::now();
    let epochs = train_sft(&mut learner, &demos, config, &mut on_epoch)?;
    let record = WarmStartRecord {
        env: recipe.env.name.clone(),
        demonstrations: demos.len(),
        reflections: demos.iter().filter(|d| d.phase == Phase::Reflect).count(),
        sft: config.clone(),
        epochs,
        seconds: started.elapsed().as_secs_f64(),
    };
    store(&learner, &record, &dir)?;
    Ok(WarmStart {
        dir,
        record,
        reused: false,
    })
}

/// A seeded random subset of `demos` whose tokens fit `budget` (all of
/// them when they fit).
fn within_budget(mut demos: Vec<Demo>, budget: usize, seed: u64) -> Vec<Demo> {
    let size = |d: &Demo| d.prompt_ids.len() + d.response_ids.len();
    if demos.iter().map(size).sum::<usize>() <= budget {
        return demos;
    }
    lamer_sdk::SeededRng::new(lamer_sdk::mix_seed(seed, 0xB0D6)).shuffle(&mut demos);
    let mut used = 0;
    demos.retain(|d| {
        used += size(d);
        used <= budget
    });
    demos
}

/// The cache key: the tiny model's version, the SFT settings and every
/// demonstration's text, hashed (16 hex digits).
fn cache_key(config: &SftConfig, demos: &[Demo]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(lamer_policy::tiny::TINY_VERSION.as_bytes());
    hasher.update(serde_json::to_vec(config).unwrap_or_default());
    for demo in demos {
        for text in [&demo.prompt, &demo.response] {
            hasher.update((text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
        }
    }
    hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The record of a complete cached warm start at `dir`, if there is one.
fn cached_record(dir: &Path) -> Option<WarmStartRecord> {
    if !dir.join(lamer_policy::loading::CONFIG_FILE).is_file() {
        return None;
    }
    let text = std::fs::read_to_string(dir.join(RECORD_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes the model and its record into a temporary sibling of `dir` and
/// renames it into place, so that an interrupted or concurrent warm start
/// never leaves a half-written model behind.
fn store(learner: &Learner, record: &WarmStartRecord, dir: &Path) -> Result<(), TrainError> {
    let io =
        |e: std::io::Error| TrainError::Config(format!("warm start cache {}: {e}", dir.display()));
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io)?;
    let staging = parent.join(format!(
        ".{}.tmp-{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("warm"),
        std::process::id()
    ));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io)?;
    }
    export_model_dir(learner, &staging)?;
    let json = serde_json::to_string_pretty(record)
        .map_err(|e| TrainError::Config(format!("warm start record: {e}")))?;
    std::fs::write(staging.join(RECORD_FILE), json + "\n").map_err(io)?;
    match std::fs::rename(&staging, dir) {
        Ok(()) => Ok(()),
        // Another run cached the same warm start first: keep theirs.
        Err(_) if cached_record(dir).is_some() => std::fs::remove_dir_all(&staging).map_err(io),
        Err(e) => Err(io(e)),
    }
}

/// The validation figures of the untrained built-in model under `recipe`
/// and `algo`, cached in the warm start's directory (keyed by the recipe and
/// the algorithm), so a run can say where its warm start began.
pub fn untrained_validation(
    factory: &dyn EnvFactory,
    recipe: &Recipe,
    algo: super::recipe::Algo,
    warm: &WarmStart,
) -> Result<super::metrics::StepMetrics, TrainError> {
    let mut hasher = Sha256::new();
    hasher.update(recipe.to_toml()?.as_bytes());
    hasher.update(algo.as_str().as_bytes());
    let key: String = hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = warm.dir.join(format!("untrained-validation-{key}.json"));
    if let Some(m) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
    {
        return Ok(m);
    }
    let m = super::trainer::validate_model(factory, None, recipe, algo)?;
    if let Ok(json) = serde_json::to_string(&m) {
        // A cache: failing to write it only costs the next run this validation.
        let _ = std::fs::write(&path, json);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(tokens: usize, tag: usize) -> Demo {
        Demo {
            prompt: format!("prompt {tag}"),
            response: "r".into(),
            prompt_ids: vec![1; tokens - 1],
            response_ids: vec![2],
            phase: Phase::Play,
        }
    }

    #[test]
    fn demonstrations_are_cut_to_the_token_budget_by_a_seeded_draw() {
        let demos: Vec<Demo> = (0..10).map(|i| demo(100, i)).collect();
        assert_eq!(within_budget(demos.clone(), 1000, 0), demos, "all fit");
        let cut = within_budget(demos.clone(), 350, 0);
        assert_eq!(cut.len(), 3);
        assert_eq!(cut, within_budget(demos.clone(), 350, 0), "deterministic");
        assert_ne!(cut, within_budget(demos.clone(), 350, 1), "seeded");
        assert_ne!(cut, demos[..3].to_vec(), "a draw, not the first ones");
    }

    #[test]
    fn the_cache_key_follows_the_demonstrations_and_the_settings() {
        let demos: Vec<Demo> = (0..3).map(|i| demo(10, i)).collect();
        let config = default_warm_start();
        let key = cache_key(&config, &demos);
        assert_eq!(key.len(), 16);
        assert_eq!(key, cache_key(&config, &demos));
        assert_ne!(key, cache_key(&config, &demos[..2]));
        let other = SftConfig {
            epochs: config.epochs + 1,
            ..config.clone()
        };
        assert_ne!(key, cache_key(&other, &demos));
    }
}
