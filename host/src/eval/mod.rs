//! # eval: success per attempt, pass@k, diversity
//!
//! Evaluation is the rollout at test settings (one trial per held-out task,
//! temperature 0.7 / top-p 0.8 / top-k 20 by default) followed by metrics:
//! pass@k per attempt, mean returns, the invalid-action ratio, the mean
//! response length, and optionally the diversity of first attempts (K extra
//! zero-shot samples per task). Baselines differ only in the rollout's
//! [`TrialMode`]: `reflexion` (the LaMer loop with a frozen model) or
//! `zero-shot` (independent attempts, how the RL baselines are evaluated).
//!
//! [`evaluate`] returns the report and the trials; [`write_outputs`] saves
//! `report.json`, `trajectories.jsonl` and `pass_at_k.svg`.

pub mod metrics;
pub mod plot;
pub mod report;

use std::io::Write;
use std::path::{Path, PathBuf};

use lamer_plugin::EnvFactory;
use lamer_policy::Policy;
use lamer_sdk::{Task, mix_seed};
use serde::{Deserialize, Serialize};

pub use report::{DiversityReport, EvalReport};

use crate::rollout::{
    Phase, RolloutConfig, RolloutError, RolloutObserver, RolloutOutput, TaskGroup, TrialMode,
    TrialResult, run_rollout,
};

/// Salt of the diversity rollouts' seed, so they do not replay the main run.
const DIVERSITY_SALT: u64 = 0xD1_7E_55;

/// What to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    pub split: String,
    /// The first task index.
    pub first_task: u64,
    pub tasks: u64,
    /// Tasks per rollout batch (0 = all at once). Does not change results:
    /// request seeds depend on the task's position, not on its batch.
    pub batch_tasks: usize,
    /// First-attempt samples per task for the diversity metric (0 = skip).
    pub diversity_samples: usize,
    /// Attempts, mode, memory, sampling, seed, env config. `group_size` is
    /// ignored: evaluation plays one trial per task.
    pub rollout: RolloutConfig,
}

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("the environment `{env}` has no split `{split}`; it has: {known}")]
    UnknownSplit {
        env: String,
        split: String,
        known: String,
    },
    #[error(
        "split `{split}` has {available} tasks; tasks {first}..{end} do not exist (lower --tasks)"
    )]
    TooManyTasks {
        split: String,
        available: u64,
        first: u64,
        end: u64,
    },
    #[error("the plugin rejects the env config {config}: {message}")]
    EnvConfig { config: String, message: String },
    #[error(transparent)]
    Rollout(#[from] RolloutError),
    #[error("could not write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The report and the played trials.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalOutcome {
    pub report: EvalReport,
    pub trials: Vec<TrialResult>,
    /// The diversity samples' trials (empty when skipped).
    pub diversity_trials: Vec<TrialResult>,
}

/// Runs the evaluation.
pub fn evaluate(
    factory: &dyn EnvFactory,
    policy: &mut dyn Policy,
    config: &EvalConfig,
    observer: &mut dyn RolloutObserver,
) -> Result<EvalOutcome, EvalError> {
    let info = factory.info();
    let split = info
        .split(&config.split)
        .ok_or_else(|| EvalError::UnknownSplit {
            env: info.name.clone(),
            split: config.split.clone(),
            known: info
                .splits
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let end = config.first_task.saturating_add(config.tasks);
    if end > split.task_count {
        return Err(EvalError::TooManyTasks {
            split: split.name.clone(),
            available: split.task_count,
            first: config.first_task,
            end,
        });
    }
    let groups: Vec<TaskGroup> = (config.first_task..end)
        .enumerate()
        .map(|(id, index)| TaskGroup {
            id,
            task: Task::new(&config.split, index),
        })
        .collect();
    evaluate_tasks(factory, policy, config, &groups, observer)
}

/// Runs the evaluation on the given tasks (of `config.split`) instead of the
/// range `first_task .. first_task + tasks`.
pub fn evaluate_tasks(
    factory: &dyn EnvFactory,
    policy: &mut dyn Policy,
    config: &EvalConfig,
    groups: &[TaskGroup],
    observer: &mut dyn RolloutObserver,
) -> Result<EvalOutcome, EvalError> {
    // A config the plugin rejects would fail every trial one by one and
    // report 0 %: stop before any work instead, with the plugin's reason.
    let env_config = &config.rollout.env_config;
    if let Err(e) = factory.open(env_config) {
        return Err(EvalError::EnvConfig {
            config: if env_config.is_empty() {
                "{}".into()
            } else {
                env_config.clone()
            },
            message: e.to_string(),
        });
    }
    let main = RolloutConfig {
        group_size: 1,
        ..config.rollout.clone()
    };
    let output = run_batched(factory, policy, groups, &main, config.batch_tasks, observer)?;

    let mut diversity = None;
    let mut diversity_trials = Vec::new();
    if config.diversity_samples > 0 {
        let sampling = RolloutConfig {
            group_size: config.diversity_samples,
            attempts: 1,
            mode: TrialMode::ZeroShot,
            seed: mix_seed(config.rollout.seed, DIVERSITY_SALT),
            ..config.rollout.clone()
        };
        let samples = run_batched(
            factory,
            policy,
            groups,
            &sampling,
            config.batch_tasks,
            observer,
        )?;
        let mut per_task: Vec<Vec<Vec<String>>> = vec![Vec::new(); groups.len()];
        for trial in samples.trials.iter().filter(|t| t.failure.is_none()) {
            per_task[trial.group].push(trial.first_attempt_actions());
        }
        per_task.retain(|s| !s.is_empty());
        let (mean_entropy_nats, mean_distinct) = metrics::trajectory_diversity(&per_task);
        diversity = Some(DiversityReport {
            samples: config.diversity_samples,
            mean_entropy_nats,
            mean_distinct,
        });
        diversity_trials = samples.trials;
    }

    let report = build_report(factory, policy.name(), config, &output, diversity);
    Ok(EvalOutcome {
        report,
        trials: output.trials,
        diversity_trials,
    })
}

fn run_batched(
    factory: &dyn EnvFactory,
    policy: &mut dyn Policy,
    groups: &[TaskGroup],
    config: &RolloutConfig,
    batch_tasks: usize,
    observer: &mut dyn RolloutObserver,
) -> Result<RolloutOutput, RolloutError> {
    let size = if batch_tasks == 0 {
        // All at once, as far as the sandbox has room for their sessions.
        let room = factory
            .session_capacity()
            .map_or(usize::MAX, |capacity| capacity / config.group_size.max(1));
        groups.len().min(room).max(1)
    } else {
        batch_tasks
    };
    let mut all = RolloutOutput {
        rows: Vec::new(),
        trials: Vec::new(),
    };
    for chunk in groups.chunks(size) {
        let offset = all.trials.len();
        let mut out = run_rollout(factory, policy, chunk, config, observer)?;
        // Trial uids are per rollout; make them unique across batches.
        for trial in &mut out.trials {
            trial.trial_uid += offset;
        }
        for row in &mut out.rows {
            row.trial_uid += offset;
        }
        all.rows.append(&mut out.rows);
        all.trials.append(&mut out.trials);
    }
    Ok(all)
}

fn build_report(
    factory: &dyn EnvFactory,
    policy: String,
    config: &EvalConfig,
    output: &RolloutOutput,
    diversity: Option<DiversityReport>,
) -> EvalReport {
    let attempts = config.rollout.attempts;
    let solved: Vec<Option<u32>> = output.trials.iter().map(TrialResult::solved_at).collect();
    let mut solved_at_attempt = vec![0; attempts as usize];
    for a in solved.iter().flatten() {
        if let Some(slot) = solved_at_attempt.get_mut(*a as usize) {
            *slot += 1;
        }
    }
    let mut sums = vec![0.0; attempts as usize];
    let mut episodes = vec![0usize; attempts as usize];
    for outcome in output.trials.iter().flat_map(|t| &t.attempts) {
        let i = outcome.attempt as usize;
        if i < sums.len() {
            sums[i] += outcome.total_reward;
            episodes[i] += 1;
        }
    }
    let total_episodes: usize = episodes.iter().sum();
    let mean_return_per_attempt = sums
        .iter()
        .zip(&episodes)
        .map(|(s, &n)| if n == 0 { 0.0 } else { s / n as f64 })
        .collect();
    let mean_episode_return = if total_episodes == 0 {
        0.0
    } else {
        sums.iter().sum::<f64>() / total_episodes as f64
    };
    let play: Vec<_> = output
        .rows
        .iter()
        .filter(|r| r.phase == Phase::Play)
        .collect();
    let invalid_action_ratio = if play.is_empty() {
        0.0
    } else {
        play.iter().filter(|r| !r.valid).count() as f64 / play.len() as f64
    };
    let tokens = output.rows.iter().any(|r| !r.response_ids.is_empty());
    let mean_response_length = if output.rows.is_empty() {
        0.0
    } else {
        output
            .rows
            .iter()
            .map(|r| r.response_length())
            .sum::<usize>() as f64
            / output.rows.len() as f64
    };
    let failures: Vec<&TrialResult> = output
        .trials
        .iter()
        .filter(|t| t.failure.is_some())
        .collect();
    let info = factory.info();
    EvalReport {
        env: info.name.clone(),
        env_version: info.version.clone(),
        policy,
        mode: config.rollout.mode.as_str().to_string(),
        memory: config.rollout.memory.as_str().to_string(),
        split: config.split.clone(),
        first_task: config.first_task,
        tasks: output.trials.len(),
        attempts,
        seed: config.rollout.seed,
        sampling: config.rollout.sampling.clone(),
        pass_at_k: metrics::pass_at_k(&solved, attempts),
        solved_at_attempt,
        mean_return_per_attempt,
        episodes_per_attempt: episodes,
        mean_episode_return,
        invalid_action_ratio,
        mean_response_length,
        response_length_unit: if tokens { "tokens" } else { "chars" }.to_string(),
        llm_calls: output.rows.len(),
        diversity,
        failed_trials: failures.len(),
        backend_failed_trials: failures
            .iter()
            .filter(|t| t.failure.as_ref().is_some_and(|f| f.is_backend()))
            .count(),
        first_failure: failures.first().and_then(|t| {
            t.failure.as_ref().map(|f| {
                format!(
                    "task {}: `{}` at attempt {} turn {}: {}",
                    t.task, f.call, f.attempt, f.turn, f.message
                )
            })
        }),
    }
}

/// Writes `report.json`, `trajectories.jsonl` (one trial per line; the
/// diversity samples in `diversity.jsonl`) and `pass_at_k.svg` into `dir`.
pub fn write_outputs(outcome: &EvalOutcome, dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EvalError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut written = Vec::new();

    let report_path = dir.join("report.json");
    let json = serde_json::to_string_pretty(&outcome.report).map_err(|e| EvalError::Io {
        path: report_path.clone(),
        source: e.into(),
    })?;
    std::fs::write(&report_path, json + "\n").map_err(io(&report_path))?;
    written.push(report_path);

    for (name, trials) in [
        ("trajectories.jsonl", &outcome.trials),
        ("diversity.jsonl", &outcome.diversity_trials),
    ] {
        if trials.is_empty() && name == "diversity.jsonl" {
            continue;
        }
        let path = dir.join(name);
        let file = std::fs::File::create(&path).map_err(io(&path))?;
        let mut out = std::io::BufWriter::new(file);
        for trial in trials {
            serde_json::to_writer(&mut out, trial).map_err(|e| EvalError::Io {
                path: path.clone(),
                source: e.into(),
            })?;
            out.write_all(b"\n").map_err(io(&path))?;
        }
        out.flush().map_err(io(&path))?;
        written.push(path);
    }

    let plot_path = dir.join("pass_at_k.svg");
    let r = &outcome.report;
    let title = format!("{} · {} · {} — pass@k", r.env, r.policy, r.mode);
    std::fs::write(&plot_path, plot::pass_at_k_svg(&title, &r.pass_at_k))
        .map_err(io(&plot_path))?;
    written.push(plot_path);
    Ok(written)
}
