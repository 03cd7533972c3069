//! The environment-facing traits shared by the sandboxed runtime and the
//! native harness.

use lamer_sdk::{EnvError, EnvInfo, Environment, PromptPieces, ResetResult, StepResult, Task};

/// Why a call into an environment session failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SessionError {
    /// The environment reported an error value (bad config, unknown split, …).
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The call ran past its deadline; the session is dropped.
    #[error(
        "the plugin call `{call}` ran past its {limit_ms} ms deadline; the session was dropped"
    )]
    Timeout { call: String, limit_ms: u64 },
    /// The guest tried to grow memory past the cap; the session is dropped.
    #[error("the plugin exceeded its memory cap of {limit_bytes} bytes; the session was dropped")]
    OutOfMemory { limit_bytes: usize },
    /// The guest trapped or panicked; the session is dropped. `stderr_tail`
    /// holds the end of what the guest wrote to stderr (its panic message).
    #[error("the plugin trapped in `{call}`: {message}{}", stderr_suffix(.stderr_tail))]
    Trap {
        call: String,
        message: String,
        stderr_tail: String,
    },
    /// A call returned more than the sandbox allows (see
    /// `SandboxLimits::max_output_bytes` and its siblings). The session stays
    /// usable; the oversized value is discarded.
    #[error("the plugin call `{call}` returned {what} of {size}, over the limit of {limit}")]
    OutputTooLarge {
        call: String,
        what: &'static str,
        size: usize,
        limit: usize,
    },
    /// A step past the host's cap on turns per episode
    /// (`SandboxLimits::max_episode_turns`): the plugin never ended the
    /// episode. The plugin is not called; a reset or restart starts over.
    #[error(
        "the plugin did not end the episode within the host's cap of {limit} turns; a reset starts a new one, and --max-episode-turns raises the cap"
    )]
    TurnLimit { limit: u32 },
    /// A call on a session that an earlier trap, timeout or memory error
    /// dropped. Open a new session.
    #[error("this session was dropped after an earlier failure; open a new session")]
    Dropped,
    /// Anything else the runtime could not do (instantiation, host I/O, …).
    #[error("plugin runtime error: {0}")]
    Runtime(String),
}

fn stderr_suffix(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("; guest stderr: {}", tail.trim())
    }
}

impl SessionError {
    /// Whether the session can no longer be used (it must be re-opened).
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            SessionError::Env(_)
                | SessionError::OutputTooLarge { .. }
                | SessionError::TurnLimit { .. }
        )
    }
}

/// One playing session of an environment.
pub trait EnvSession: Send {
    /// Starts a task; deterministic.
    fn reset(&mut self, task: &Task) -> Result<ResetResult, SessionError>;
    /// Returns to the identical initial state of the current task.
    fn restart(&mut self) -> Result<ResetResult, SessionError>;
    /// Applies one action text.
    fn step(&mut self, action: &str) -> Result<StepResult, SessionError>;
    /// The meaningful actions now.
    fn admissible_actions(&mut self) -> Result<Vec<String>, SessionError>;
    /// The oracle's next action, if the environment has one.
    fn expert_action(&mut self) -> Result<Option<String>, SessionError>;
    /// The prompt pieces for this session's config.
    fn prompt(&mut self) -> Result<PromptPieces, SessionError>;
}

/// An environment type: its static facts and a way to open sessions.
pub trait EnvFactory: Send + Sync {
    /// Static facts, with the default config filled in.
    fn info(&self) -> &EnvInfo;
    /// How an older observation is shown in a history window.
    fn brief_observation(&self, observation: &str) -> Result<String, SessionError>;
    /// Opens a session from a JSON config (`""` or `"{}"` for the defaults).
    fn open(&self, config_json: &str) -> Result<Box<dyn EnvSession>, SessionError>;
    /// At most how many sessions can be open at once, if bounded (the
    /// sandbox's pooled instance slots); `None` when only memory bounds it.
    fn session_capacity(&self) -> Option<usize> {
        None
    }
}

/// An [`Environment`] run natively, in-process, without the sandbox. For tests
/// of the learner and for native-vs-wasm benchmarks.
pub struct NativeEnv<E: Environment> {
    info: EnvInfo,
    _env: std::marker::PhantomData<fn() -> E>,
}

impl<E: Environment> Default for NativeEnv<E> {
    fn default() -> Self {
        NativeEnv {
            info: lamer_sdk::full_info::<E>(),
            _env: std::marker::PhantomData,
        }
    }
}

impl<E: Environment> NativeEnv<E> {
    pub fn new() -> Self {
        Self::default()
    }
}

struct NativeSession<E: Environment>(lamer_sdk::Session<E>);

impl<E: Environment + Send> EnvSession for NativeSession<E> {
    fn reset(&mut self, task: &Task) -> Result<ResetResult, SessionError> {
        Ok(self.0.reset(task)?)
    }
    fn restart(&mut self) -> Result<ResetResult, SessionError> {
        Ok(self.0.restart()?)
    }
    fn step(&mut self, action: &str) -> Result<StepResult, SessionError> {
        Ok(self.0.step(action)?)
    }
    fn admissible_actions(&mut self) -> Result<Vec<String>, SessionError> {
        Ok(self.0.admissible_actions()?)
    }
    fn expert_action(&mut self) -> Result<Option<String>, SessionError> {
        Ok(self.0.expert_action()?)
    }
    fn prompt(&mut self) -> Result<PromptPieces, SessionError> {
        Ok(self.0.prompt())
    }
}

impl<E: Environment + Send> EnvFactory for NativeEnv<E> {
    fn info(&self) -> &EnvInfo {
        &self.info
    }
    fn brief_observation(&self, observation: &str) -> Result<String, SessionError> {
        Ok(E::brief_observation(observation))
    }
    fn open(&self, config_json: &str) -> Result<Box<dyn EnvSession>, SessionError> {
        Ok(Box::new(NativeSession(lamer_sdk::Session::<E>::open(
            config_json,
        )?)))
    }
}
