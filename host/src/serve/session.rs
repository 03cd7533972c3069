//! Sessions: one sandboxed environment session per WebSocket connection, or
//! per explicit HTTP session id.
//!
//! A [`Session`] is a slot in the server's table, counted against
//! `--max-sessions` from the moment it is opened (a WebSocket connection, or a
//! `POST /reset` without a `session_id`) until it is closed (the connection
//! closes, `POST /close`, or the idle reaper). Its [`EnvState`] holds the
//! plugin session itself, opened lazily by the first reset for the
//! environment and config that reset names. Every call into the plugin runs on
//! tokio's blocking pool ([`run`]), never on the I/O threads, so a slow plugin
//! call stalls only its own session. A plugin call that fails fatally (past
//! its deadline, out of memory, trapped) drops that session's sandbox; the
//! session stays, answers the typed error, and its next reset opens a fresh
//! sandbox. So does a step past the sandbox's cap on turns per episode
//! (`--max-episode-turns`, enforced by `lamer-plugin` for every command), so
//! a plugin that never ends an episode cannot keep a session stepping
//! forever.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lamer_plugin::{EnvFactory, EnvSession};
use lamer_sdk::Task;
use serde_json::{Value, json};

use super::error::ServeError;
use super::wire::{self, ResetParams};

/// The environments a server serves, by name; the first is the default.
pub struct Envs {
    factories: Vec<Arc<dyn EnvFactory>>,
}

impl Envs {
    /// Fails when two environments share a name (a reset could not tell them apart).
    pub fn new(factories: Vec<Arc<dyn EnvFactory>>) -> Result<Envs, String> {
        if factories.is_empty() {
            return Err("serve needs at least one plugin".into());
        }
        for (i, factory) in factories.iter().enumerate() {
            let name = &factory.info().name;
            if factories[..i].iter().any(|f| &f.info().name == name) {
                return Err(format!(
                    "two plugins are both named `{name}`; serve each under its own server"
                ));
            }
        }
        Ok(Envs { factories })
    }

    /// All served environments, the default first.
    pub fn all(&self) -> &[Arc<dyn EnvFactory>] {
        &self.factories
    }

    fn names(&self) -> String {
        let names: Vec<&str> = self
            .factories
            .iter()
            .map(|f| f.info().name.as_str())
            .collect();
        names.join(", ")
    }

    /// The environment named `name`, or the default one.
    fn find(&self, name: Option<&str>) -> Result<usize, ServeError> {
        let Some(name) = name else { return Ok(0) };
        self.factories
            .iter()
            .position(|f| f.info().name == name)
            .ok_or_else(|| ServeError::UnknownEnv {
                name: name.to_string(),
                served: self.names(),
            })
    }
}

/// One operation on a session.
#[derive(Debug, Clone)]
pub enum Op {
    Reset(ResetParams),
    Step(String),
    State,
    Restart,
    AdmissibleActions,
    ExpertAction,
    Prompt,
}

/// A live plugin session and what it was opened with.
struct Live {
    env: usize,
    config: String,
    session: Box<dyn EnvSession>,
}

/// The episode state of one session.
#[derive(Default)]
pub struct EnvState {
    live: Option<Live>,
    task: Option<Task>,
    seed: Option<u64>,
    episode_id: Option<String>,
    step_count: u64,
    done: bool,
    won: bool,
    total_reward: f64,
}

/// A random 64-bit number from the standard library's per-process keys.
fn random_u64() -> u64 {
    RandomState::new().hash_one(Instant::now())
}

/// The config JSON text a reset asks for (`{}` when none).
fn config_text(config: Option<&Value>) -> Result<String, ServeError> {
    match config {
        None | Some(Value::Null) => Ok("{}".into()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(object @ Value::Object(_)) => Ok(object.to_string()),
        Some(_) => Err(ServeError::Validation(
            "`config` must be a JSON object (or its text)".into(),
        )),
    }
}

/// The task a reset asks for: the index given, or the seed mapped into the
/// split, or a random task when neither is given.
fn choose_task(factory: &dyn EnvFactory, params: &ResetParams) -> Result<Task, ServeError> {
    let info = factory.info();
    let split = match &params.split {
        Some(split) => split.clone(),
        None if info.split("train").is_some() => "train".into(),
        None => info
            .splits
            .first()
            .map(|s| s.name.clone())
            .unwrap_or_default(),
    };
    let index = match (params.index, params.seed) {
        (Some(_), Some(_)) => {
            return Err(ServeError::Validation(
                "give `seed` or `index`, not both: the seed chooses the index".into(),
            ));
        }
        (Some(index), None) => index,
        (None, seed) => {
            let count = info.split(&split).map(|s| s.task_count).unwrap_or(0);
            if count == 0 {
                // Let the environment name the problem (unknown or empty split).
                0
            } else {
                seed.unwrap_or_else(random_u64) % count
            }
        }
    };
    Ok(Task::new(split, index))
}

impl EnvState {
    /// Runs one operation; a fatal plugin failure drops the sandbox.
    pub fn apply(&mut self, envs: &Envs, op: Op) -> Result<Value, ServeError> {
        let result = self.apply_inner(envs, op);
        match &result {
            Err(ServeError::Plugin(_)) => {
                self.live = None;
                self.done = true;
            }
            // The episode is over; the sandbox is fine.
            Err(ServeError::TurnLimit(_)) => self.done = true,
            _ => {}
        }
        result
    }

    fn apply_inner(&mut self, envs: &Envs, op: Op) -> Result<Value, ServeError> {
        match op {
            Op::Reset(params) => self.reset(envs, params),
            Op::Step(action) => self.step(&action),
            Op::State => Ok(self.state_json()),
            Op::Restart => self.restart(envs),
            Op::AdmissibleActions => {
                let actions = self.live()?.session.admissible_actions()?;
                Ok(json!({"admissible_actions": actions}))
            }
            Op::ExpertAction => {
                let action = self.live()?.session.expert_action()?;
                Ok(json!({"expert_action": action}))
            }
            Op::Prompt => {
                let prompt = self.live()?.session.prompt()?;
                Ok(json!({"prompt": prompt}))
            }
        }
    }

    fn live(&mut self) -> Result<&mut Live, ServeError> {
        self.live
            .as_mut()
            .ok_or(ServeError::Env(lamer_sdk::EnvError::NotReset))
    }

    fn reset(&mut self, envs: &Envs, params: ResetParams) -> Result<Value, ServeError> {
        let env = envs.find(params.env.as_deref())?;
        let factory = &envs.all()[env];
        let config = config_text(params.config.as_ref())?;
        let task = choose_task(factory.as_ref(), &params)?;
        let reusable = self
            .live
            .as_ref()
            .is_some_and(|live| live.env == env && live.config == config);
        if !reusable {
            self.live = None;
            let session = factory.open(&config)?;
            self.live = Some(Live {
                env,
                config,
                session,
            });
        }
        let reset = self.live()?.session.reset(&task)?;
        self.begin_episode(task.clone(), params.seed, params.episode_id);
        Ok(wire::reset_response(
            &factory.info().name,
            &task,
            params.seed,
            &reset,
        ))
    }

    fn restart(&mut self, envs: &Envs) -> Result<Value, ServeError> {
        let live = self.live()?;
        let env = live.env;
        let reset = live.session.restart()?;
        let task = self
            .task
            .clone()
            .ok_or(ServeError::Env(lamer_sdk::EnvError::NotReset))?;
        let (seed, episode_id) = (self.seed, self.episode_id.take());
        self.begin_episode(task.clone(), seed, episode_id);
        let name = &envs.all()[env].info().name;
        Ok(wire::reset_response(name, &task, seed, &reset))
    }

    fn begin_episode(&mut self, task: Task, seed: Option<u64>, episode_id: Option<String>) {
        self.task = Some(task);
        self.seed = seed;
        self.episode_id = episode_id;
        self.step_count = 0;
        self.done = false;
        self.won = false;
        self.total_reward = 0.0;
    }

    fn step(&mut self, action: &str) -> Result<Value, ServeError> {
        let step = self.live()?.session.step(action)?;
        self.step_count += 1;
        self.done = step.done();
        self.won |= step.won;
        self.total_reward += step.reward;
        Ok(wire::step_response(&step, self.step_count))
    }

    fn state_json(&self) -> Value {
        json!({
            "episode_id": self.episode_id,
            "step_count": self.step_count,
            "task": self.task.as_ref().map(|t| json!({"split": t.split, "index": t.index})),
            "seed": self.seed,
            "done": self.done,
            "won": self.won,
            "total_reward": self.total_reward,
        })
    }
}

/// How a session is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Through one WebSocket connection; closed with it.
    WebSocket,
    /// Through its id on plain HTTP calls; closed by `/close` or the reaper.
    Http,
}

/// One session slot.
pub struct Session {
    pub id: String,
    pub kind: Kind,
    last_active: Mutex<Instant>,
    state: Mutex<EnvState>,
}

impl Session {
    fn touch(&self) {
        *self
            .last_active
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }
}

/// Runs `op` on `session` on the blocking pool, off the I/O threads.
pub async fn run(session: Arc<Session>, envs: Arc<Envs>, op: Op) -> Result<Value, ServeError> {
    session.touch();
    let worker = Arc::clone(&session);
    let result = tokio::task::spawn_blocking(move || {
        let mut state = worker.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.apply(&envs, op)
    })
    .await
    .map_err(|e| ServeError::Internal(format!("a plugin worker thread failed: {e}")))?;
    session.touch();
    result
}

/// Why a session ended, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    Client,
    Idle,
}

/// The table of open sessions, bounded by `max`.
pub struct Sessions {
    table: Mutex<HashMap<String, Arc<Session>>>,
    max: usize,
    counter: AtomicU64,
}

impl Sessions {
    pub fn new(max: usize) -> Sessions {
        Sessions {
            table: Mutex::new(HashMap::new()),
            max: max.max(1),
            counter: AtomicU64::new(0),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a session slot, or answers a capacity error when all are taken.
    pub fn open(&self, kind: Kind) -> Result<Arc<Session>, ServeError> {
        let mut table = self.table();
        if table.len() >= self.max {
            return Err(ServeError::Capacity {
                active: table.len(),
                max: self.max,
            });
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!("{n:x}-{:016x}", random_u64());
        let session = Arc::new(Session {
            id: id.clone(),
            kind,
            last_active: Mutex::new(Instant::now()),
            state: Mutex::new(EnvState::default()),
        });
        table.insert(id, Arc::clone(&session));
        Ok(session)
    }

    /// The HTTP session with this id.
    pub fn get_http(&self, id: &str) -> Result<Arc<Session>, ServeError> {
        match self.table().get(id) {
            Some(session) if session.kind == Kind::Http => Ok(Arc::clone(session)),
            _ => Err(ServeError::UnknownSession(id.to_string())),
        }
    }

    /// Removes a session; its plugin session is dropped once the last
    /// in-flight call on it returns. Whether it was open.
    pub fn close(&self, id: &str) -> bool {
        self.table().remove(id).is_some()
    }

    /// Closes the HTTP sessions idle for longer than `idle`; how many.
    pub fn reap_idle(&self, idle: Duration) -> usize {
        let mut table = self.table();
        let before = table.len();
        table.retain(|_, s| s.kind != Kind::Http || s.idle_for() <= idle);
        before - table.len()
    }

    /// How many sessions are open now.
    pub fn open_count(&self) -> usize {
        self.table().len()
    }

    /// The most sessions that may be open at once.
    pub fn max(&self) -> usize {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamer_plugin::NativeEnv;

    fn envs() -> Arc<Envs> {
        let keydoor: Arc<dyn EnvFactory> = Arc::new(NativeEnv::<keydoor::KeyDoor>::new());
        Arc::new(Envs::new(vec![keydoor]).unwrap())
    }

    #[test]
    fn the_same_seed_gives_the_same_task_and_observation() {
        let envs = envs();
        let mut a = EnvState::default();
        let mut b = EnvState::default();
        let params = ResetParams {
            seed: Some(12345),
            ..Default::default()
        };
        let first = a.apply(&envs, Op::Reset(params.clone())).unwrap();
        let second = b.apply(&envs, Op::Reset(params)).unwrap();
        assert_eq!(first, second);
        assert_eq!(first["observation"]["seed"], 12345);
    }

    #[test]
    fn seed_and_index_together_are_refused() {
        let mut state = EnvState::default();
        let params = ResetParams {
            seed: Some(1),
            index: Some(2),
            ..Default::default()
        };
        let error = state.apply(&envs(), Op::Reset(params)).unwrap_err();
        assert_eq!(error.code(), "VALIDATION_ERROR");
    }

    #[test]
    fn stepping_before_reset_is_a_typed_env_error() {
        let mut state = EnvState::default();
        let error = state.apply(&envs(), Op::Step("up".into())).unwrap_err();
        assert_eq!(error.code(), "ENV_ERROR");
    }

    #[test]
    fn restart_returns_the_identical_initial_observation() {
        let envs = envs();
        let mut state = EnvState::default();
        let params = ResetParams {
            index: Some(3),
            split: Some("test".into()),
            ..Default::default()
        };
        let first = state.apply(&envs, Op::Reset(params)).unwrap();
        state.apply(&envs, Op::Step("noop".into())).unwrap();
        let again = state.apply(&envs, Op::Restart).unwrap();
        assert_eq!(first, again);
    }

    #[test]
    fn the_table_refuses_sessions_past_its_limit_and_reaps_idle_ones() {
        let sessions = Sessions::new(2);
        let a = sessions.open(Kind::Http).unwrap();
        let _b = sessions.open(Kind::WebSocket).unwrap();
        let error = sessions.open(Kind::Http).err().unwrap();
        assert_eq!(error.code(), "CAPACITY_REACHED");
        assert!(sessions.get_http(&a.id).is_ok());
        assert_eq!(sessions.reap_idle(Duration::ZERO), 1);
        assert_eq!(
            sessions.open_count(),
            1,
            "WebSocket sessions are not reaped here"
        );
        assert!(sessions.get_http(&a.id).is_err());
    }

    #[test]
    fn a_plugin_that_never_ends_an_episode_is_stopped_at_the_turn_cap() {
        let runtime = lamer_plugin::Runtime::new(lamer_plugin::RuntimeConfig {
            cache_dir: None,
            instance_slots: None,
            ..lamer_plugin::RuntimeConfig::default()
        })
        .unwrap();
        let limits = lamer_plugin::SandboxLimits {
            max_episode_turns: 5,
            ..Default::default()
        };
        let hostile: Arc<dyn EnvFactory> = Arc::new(
            runtime
                .load(&lamer_tests::plugin_path("hostile"), limits)
                .unwrap(),
        );
        let envs = Envs::new(vec![hostile]).unwrap();
        let mut state = EnvState::default();
        let params = ResetParams {
            index: Some(0),
            config: Some(json!({"attack": "none", "max_turns": u32::MAX})),
            ..Default::default()
        };
        state.apply(&envs, Op::Reset(params.clone())).unwrap();
        for _ in 0..5 {
            state.apply(&envs, Op::Step("x".into())).unwrap();
        }
        let error = state.apply(&envs, Op::Step("x".into())).unwrap_err();
        assert!(error.to_string().contains("cap of 5 turns"), "{error}");
        assert_eq!(error.code(), "TURN_LIMIT");
        assert_eq!(error.status(), axum::http::StatusCode::CONFLICT);
        assert!(state.live.is_some(), "the sandbox is kept");
        assert_eq!(state.state_json()["done"], true);
        // The episode is over: a further step is refused the same way.
        assert!(state.apply(&envs, Op::Step("x".into())).is_err());
        // A reset starts a fresh episode.
        state.apply(&envs, Op::Reset(params)).unwrap();
        state.apply(&envs, Op::Step("x".into())).unwrap();
    }
}
