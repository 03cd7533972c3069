//! A loaded plugin: a compiled, type-checked, pre-instantiated component and
//! the environment facts it reported once at load. It implements
//! [`EnvFactory`]: every [`EnvFactory::open`] instantiates a fresh store (one
//! store per session), so a session that traps takes nothing else down.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use lamer_sdk::EnvInfo;

use super::bindings;
use super::convert;
use super::entropy;
use super::limits::SandboxLimits;
use super::sandbox::{HostState, Sandbox};
use super::session::WasmSession;
use super::{LoadError, RuntimeShared};
use crate::{EnvFactory, EnvSession, SessionError};

/// What every session of a plugin shares.
pub(crate) struct PluginShared {
    pub(crate) runtime: Arc<RuntimeShared>,
    pub(crate) pre: bindings::PluginPre<HostState>,
    pub(crate) limits: SandboxLimits,
    /// The call deadline in epoch ticks.
    pub(crate) deadline_ticks: u64,
    path: PathBuf,
    imports: Vec<String>,
    exports: Vec<String>,
    info: EnvInfo,
    cache_hit: bool,
    /// An instance for the calls outside sessions (`brief-observation`),
    /// re-created after a failure.
    utility: Mutex<Option<Sandbox>>,
}

/// A plugin loaded into the sandbox. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Plugin {
    shared: Arc<PluginShared>,
}

/// What [`super::Runtime::load`] hands over to build a [`Plugin`].
pub(crate) struct PluginParts {
    pub runtime: Arc<RuntimeShared>,
    pub pre: bindings::PluginPre<HostState>,
    pub limits: SandboxLimits,
    pub path: PathBuf,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    pub cache_hit: bool,
}

impl Plugin {
    /// Builds the plugin and calls the guest's `info` once.
    pub(crate) fn new(parts: PluginParts) -> Result<Plugin, LoadError> {
        let tick = parts.runtime.epoch_tick.as_nanos().max(1);
        // One extra tick so a call always gets at least its full deadline.
        let deadline_ticks = u64::try_from(parts.limits.call_timeout.as_nanos().div_ceil(tick) + 1)
            .unwrap_or(u64::MAX);
        let mut shared = PluginShared {
            runtime: parts.runtime,
            pre: parts.pre,
            limits: parts.limits,
            deadline_ticks,
            path: parts.path,
            imports: parts.imports,
            exports: parts.exports,
            info: EnvInfo::new("", "", "", 0),
            cache_hit: parts.cache_hit,
            utility: Mutex::new(None),
        };
        let info_error = |e: SessionError| LoadError::Info {
            path: shared.path.clone(),
            message: e.to_string(),
        };
        let mut utility = Sandbox::new(&shared).map_err(info_error)?;
        let info = utility
            .call("info", &shared, |store, plugin| {
                plugin.lamer_env_environment().call_info(store)
            })
            .map_err(info_error)?;
        shared.info = convert::env_info(info);
        shared.utility = Mutex::new(Some(utility));
        Ok(Plugin {
            shared: Arc::new(shared),
        })
    }

    /// The file the plugin was loaded from.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The interfaces the component imports (WASI interfaces, e.g.
    /// `wasi:cli/stderr@0.2.6`).
    pub fn imports(&self) -> Vec<String> {
        self.shared.imports.clone()
    }

    /// The interfaces the component exports (`lamer:env/environment@0.1.0`).
    pub fn exports(&self) -> Vec<String> {
        self.shared.exports.clone()
    }

    /// Whether the compiled code came from the compile cache.
    pub fn cache_hit(&self) -> bool {
        self.shared.cache_hit
    }

    /// The sandbox limits every session of this plugin runs under.
    pub fn limits(&self) -> &SandboxLimits {
        &self.shared.limits
    }

    /// Opens a session and keeps its concrete type (for the guest's captured
    /// output); [`EnvFactory::open`] boxes it.
    pub fn open_session(&self, config_json: &str) -> Result<WasmSession, SessionError> {
        WasmSession::open(Arc::clone(&self.shared), config_json)
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.shared.path)
            .field("env", &self.shared.info.name)
            .field("cache_hit", &self.shared.cache_hit)
            .finish_non_exhaustive()
    }
}

impl EnvFactory for Plugin {
    fn info(&self) -> &EnvInfo {
        &self.shared.info
    }

    fn brief_observation(&self, observation: &str) -> Result<String, SessionError> {
        let shared = &*self.shared;
        let mut slot = shared
            .utility
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let sandbox = match slot.as_mut() {
            Some(sandbox) => sandbox,
            None => slot.insert(Sandbox::new(shared)?),
        };
        // Outside any episode: the same clock and random streams every time,
        // so the answer depends on the observation only.
        sandbox.start_episode(entropy::OUTSIDE_EPISODE_SEED);
        let result = sandbox.call("brief-observation", shared, |store, plugin| {
            plugin
                .lamer_env_environment()
                .call_brief_observation(store, observation)
        });
        if result.is_err() {
            // A trapped instance is poisoned; the next call gets a fresh one.
            *slot = None;
        }
        result
    }

    fn open(&self, config_json: &str) -> Result<Box<dyn EnvSession>, SessionError> {
        Ok(Box::new(self.open_session(config_json)?))
    }

    /// The runtime's pooled slots less this plugin's utility instance (other
    /// plugins and sessions of the same runtime share the rest).
    fn session_capacity(&self) -> Option<usize> {
        let slots = self.shared.runtime.instance_slots?;
        Some(
            usize::try_from(slots)
                .unwrap_or(usize::MAX)
                .saturating_sub(1),
        )
    }
}
