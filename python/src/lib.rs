//! # lamer-envs: the sandboxed plugins, in-process, for Python
//!
//! The `lamer_envs._native` extension module: the same wasmtime sandbox the
//! `lamer-host` CLI runs plugins in (deadline per call, memory cap, no files or
//! network), behind two small classes the pure-Python package
//! (`lamer_envs/env.py`) wraps in a `gymnasium.Env`. [`Plugin`] is a loaded,
//! compiled plugin (cheap to share between environments); [`Session`] is one
//! playing session in its own store. Plugin calls release the GIL, so vector
//! environments on threads run in parallel.
//!
//! Errors become Python exceptions with the CLI's one-line messages:
//! `EnvError` (the environment refused: unknown split, stepping after the
//! end, …), `PluginError` (the plugin ran past its deadline, out of memory, or
//! trapped; the session is dropped) and `LoadError`; all are `LamerError`s.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use lamer_plugin::{EnvFactory, EnvSession, Runtime, RuntimeConfig, SandboxLimits, SessionError};
use lamer_sdk::{InfoPair, Task};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(_native, LamerError, PyException, "Any lamer error.");
create_exception!(
    _native,
    EnvError,
    LamerError,
    "The environment refused a call (unknown split, not reset, episode over, …)."
);
create_exception!(
    _native,
    PluginError,
    LamerError,
    "The plugin ran past its deadline, out of memory, or trapped; its session is dropped."
);
create_exception!(
    _native,
    LoadError,
    LamerError,
    "A plugin could not be loaded."
);

/// One runtime per process: one engine, one compile cache, one slot pool.
static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);

fn runtime() -> PyResult<Runtime> {
    let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(runtime) = slot.as_ref() {
        return Ok(runtime.clone());
    }
    let runtime =
        Runtime::new(RuntimeConfig::default()).map_err(|e| LoadError::new_err(e.to_string()))?;
    *slot = Some(runtime.clone());
    Ok(runtime)
}

fn session_error(error: SessionError) -> PyErr {
    match error {
        SessionError::Env(env) => EnvError::new_err(env.to_string()),
        fatal => PluginError::new_err(fatal.to_string()),
    }
}

fn pairs(info: Vec<InfoPair>) -> Vec<(String, String)> {
    info.into_iter().map(|p| (p.key, p.value)).collect()
}

/// A plugin loaded into the sandbox.
#[pyclass(module = "lamer_envs._native", frozen)]
struct Plugin {
    inner: lamer_plugin::Plugin,
}

#[pymethods]
impl Plugin {
    /// Loads (compiling once, then from the cache) the component at `path`.
    #[new]
    #[pyo3(signature = (path, call_timeout_ms=None, memory_mib=None, data_dir=None))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        call_timeout_ms: Option<u64>,
        memory_mib: Option<usize>,
        data_dir: Option<PathBuf>,
    ) -> PyResult<Plugin> {
        let mut limits = SandboxLimits::default();
        if let Some(ms) = call_timeout_ms {
            limits.call_timeout = Duration::from_millis(ms);
        }
        if let Some(mib) = memory_mib {
            limits.memory_bytes = mib << 20;
        }
        limits.data_dir = data_dir;
        let runtime = runtime()?;
        let inner = py
            .detach(|| runtime.load(&path, limits))
            .map_err(|e| LoadError::new_err(e.to_string()))?;
        Ok(Plugin { inner })
    }

    /// The environment's info (name, version, splits, default config) as JSON.
    fn info_json(&self) -> PyResult<String> {
        serde_json::to_string(self.inner.info()).map_err(|e| LamerError::new_err(e.to_string()))
    }

    /// The file it was loaded from.
    fn path(&self) -> PathBuf {
        self.inner.path().to_path_buf()
    }

    /// Opens a session from a JSON config (`"{}"` for the defaults).
    fn open(&self, py: Python<'_>, config_json: String) -> PyResult<Session> {
        let inner = py
            .detach(|| self.inner.open(&config_json))
            .map_err(session_error)?;
        Ok(Session {
            inner: Mutex::new(inner),
        })
    }

    /// How an older observation is shown in a history window.
    fn brief_observation(&self, py: Python<'_>, observation: String) -> PyResult<String> {
        py.detach(|| self.inner.brief_observation(&observation))
            .map_err(session_error)
    }
}

/// `(observation, info pairs)`.
type ResetTuple = (String, Vec<(String, String)>);
/// `(observation, reward, terminated, truncated, won, action_valid, echo, info pairs)`.
type StepTuple = (
    String,
    f64,
    bool,
    bool,
    bool,
    bool,
    String,
    Vec<(String, String)>,
);

/// One playing session, in its own sandboxed store. The lock makes it
/// shareable between Python threads; calls on one session never overlap.
#[pyclass(module = "lamer_envs._native", frozen)]
struct Session {
    inner: Mutex<Box<dyn EnvSession>>,
}

impl Session {
    fn call<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut dyn EnvSession) -> Result<T, SessionError> + Send,
    ) -> PyResult<T> {
        py.detach(|| {
            let mut session = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            f(session.as_mut())
        })
        .map_err(session_error)
    }
}

#[pymethods]
impl Session {
    /// Starts task `index` of `split`; deterministic.
    fn reset(&self, py: Python<'_>, split: String, index: u64) -> PyResult<ResetTuple> {
        let task = Task::new(split, index);
        let reset = self.call(py, |s| s.reset(&task))?;
        Ok((reset.observation, pairs(reset.info)))
    }

    /// Returns to the identical initial state of the current task.
    fn restart(&self, py: Python<'_>) -> PyResult<ResetTuple> {
        let reset = self.call(py, |s| s.restart())?;
        Ok((reset.observation, pairs(reset.info)))
    }

    /// Applies one action text.
    fn step(&self, py: Python<'_>, action: String) -> PyResult<StepTuple> {
        let r = self.call(py, |s| s.step(&action))?;
        Ok((
            r.observation,
            r.reward,
            r.terminated,
            r.truncated,
            r.won,
            r.action_valid,
            r.action_echo,
            pairs(r.info),
        ))
    }

    /// The meaningful actions now.
    fn admissible_actions(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.call(py, |s| s.admissible_actions())
    }

    /// The environment's oracle action, or `None`.
    fn expert_action(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.call(py, |s| s.expert_action())
    }

    /// The prompt pieces as JSON.
    fn prompt_json(&self, py: Python<'_>) -> PyResult<String> {
        let prompt = self.call(py, |s| s.prompt())?;
        serde_json::to_string(&prompt).map_err(|e| LamerError::new_err(e.to_string()))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Plugin>()?;
    m.add_class::<Session>()?;
    m.add("LamerError", py.get_type::<LamerError>())?;
    m.add("EnvError", py.get_type::<EnvError>())?;
    m.add("PluginError", py.get_type::<PluginError>())?;
    m.add("LoadError", py.get_type::<LoadError>())?;
    Ok(())
}
