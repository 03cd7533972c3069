//! The native harness: one playing session with exactly the semantics the host
//! sees through the WIT contract. The wasm export layer is a thin wrapper over
//! it, so unit tests of an environment exercise the same code paths.

use serde_json::Value;

use crate::{EnvError, EnvInfo, Environment, ResetResult, StepResult, Task};

/// [`Environment::info`] with `default_config` filled from `Config::default()`.
pub fn full_info<E: Environment>() -> EnvInfo {
    let mut info = E::info();
    info.default_config = serde_json::to_string(&E::Config::default())
        .unwrap_or_else(|e| format!("{{\"error\": \"config does not serialise: {e}\"}}"));
    info
}

/// Parses a JSON config onto the defaults. Missing keys keep their default,
/// unknown keys are rejected with the list of known ones, and an empty string
/// means "all defaults".
pub fn parse_config<E: Environment>(json: &str) -> Result<E::Config, EnvError> {
    let mut merged = serde_json::to_value(E::Config::default())
        .map_err(|e| EnvError::Internal(format!("default config does not serialise: {e}")))?;
    if !json.trim().is_empty() {
        let given: Value = serde_json::from_str(json)
            .map_err(|e| EnvError::InvalidConfig(format!("not valid JSON: {e}")))?;
        let Value::Object(given) = given else {
            return Err(EnvError::InvalidConfig(
                "the config must be a JSON object, e.g. {}".into(),
            ));
        };
        let Value::Object(defaults) = &mut merged else {
            return Err(EnvError::Internal(
                "the config type must serialise to a JSON object".into(),
            ));
        };
        for (key, value) in given {
            if !defaults.contains_key(&key) {
                let known: Vec<&str> = defaults.keys().map(String::as_str).collect();
                return Err(EnvError::InvalidConfig(format!(
                    "unknown key `{key}`; known keys: {}",
                    known.join(", ")
                )));
            }
            defaults.insert(key, value);
        }
    }
    serde_json::from_value(merged).map_err(|e| EnvError::InvalidConfig(e.to_string()))
}

/// One playing session of an environment, run natively.
#[derive(Clone)]
pub struct Session<E: Environment> {
    env: E,
    /// Split names and task counts, read from [`Environment::info`] once at
    /// open (it builds strings, and `reset` runs often).
    splits: std::sync::Arc<[(String, u64)]>,
    /// The environment right after `reset`, and what `reset` returned.
    initial: Option<(E, ResetResult)>,
    turns: u32,
    over: bool,
}

impl<E: Environment> Session<E> {
    /// Opens a session from a JSON config (see [`parse_config`]).
    pub fn open(config_json: &str) -> Result<Self, EnvError> {
        Self::with_config(parse_config::<E>(config_json)?)
    }

    /// Opens a session from a typed config.
    pub fn with_config(config: E::Config) -> Result<Self, EnvError> {
        let splits = E::info()
            .splits
            .into_iter()
            .map(|s| (s.name, s.task_count))
            .collect();
        Ok(Session {
            env: E::open(config)?,
            splits,
            initial: None,
            turns: 0,
            over: false,
        })
    }

    /// Starts a task after checking the split and index against [`Environment::info`].
    pub fn reset(&mut self, task: &Task) -> Result<ResetResult, EnvError> {
        let Some((name, task_count)) = self.splits.iter().find(|(name, _)| *name == task.split)
        else {
            let names: Vec<&str> = self.splits.iter().map(|(name, _)| name.as_str()).collect();
            return Err(EnvError::UnknownSplit(format!(
                "`{}`; this environment has: {}",
                task.split,
                names.join(", ")
            )));
        };
        if task.index >= *task_count {
            return Err(EnvError::TaskOutOfRange(format!(
                "index {} in split `{name}`, which has {task_count} tasks",
                task.index
            )));
        }
        let result = self.env.reset(task)?;
        self.initial = Some((self.env.clone(), result.clone()));
        self.turns = 0;
        self.over = false;
        Ok(result)
    }

    /// Returns to the state right after the last `reset`.
    pub fn restart(&mut self) -> Result<ResetResult, EnvError> {
        let (env, result) = self.initial.as_ref().ok_or(EnvError::NotReset)?;
        self.env = env.clone();
        self.turns = 0;
        self.over = false;
        Ok(result.clone())
    }

    /// Applies one action, counting the turn and applying the turn limit.
    pub fn step(&mut self, action: &str) -> Result<StepResult, EnvError> {
        if self.initial.is_none() {
            return Err(EnvError::NotReset);
        }
        if self.over {
            return Err(EnvError::EpisodeOver);
        }
        let step = self.env.step(action)?;
        self.turns += 1;
        let truncated = !step.terminated && (step.truncated || self.turns >= self.env.max_turns());
        self.over = step.terminated || truncated;
        Ok(StepResult {
            observation: step.observation,
            reward: step.reward,
            terminated: step.terminated,
            truncated,
            won: step.won,
            action_valid: step.action_valid,
            action_echo: step.action_echo,
            info: step.info,
        })
    }

    /// The meaningful actions now; empty once the episode is over.
    pub fn admissible_actions(&self) -> Result<Vec<String>, EnvError> {
        if self.initial.is_none() {
            return Err(EnvError::NotReset);
        }
        Ok(if self.over {
            Vec::new()
        } else {
            self.env.admissible_actions()
        })
    }

    /// The oracle's next action; none once the episode is over.
    pub fn expert_action(&self) -> Result<Option<String>, EnvError> {
        if self.initial.is_none() {
            return Err(EnvError::NotReset);
        }
        Ok(if self.over {
            None
        } else {
            self.env.expert_action()
        })
    }

    /// The prompt pieces for this session's config.
    pub fn prompt(&self) -> crate::PromptPieces {
        self.env.prompt()
    }

    /// Turns taken in the current attempt.
    pub fn turns(&self) -> u32 {
        self.turns
    }

    /// Whether the current attempt has ended.
    pub fn is_over(&self) -> bool {
        self.over
    }

    /// The environment itself, for white-box unit tests.
    pub fn env(&self) -> &E {
        &self.env
    }
}
