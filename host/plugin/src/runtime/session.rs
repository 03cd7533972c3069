//! One playing session in its own store. After a fatal error (trap, timeout,
//! memory cap) the store is dropped and every later call answers
//! [`SessionError::Dropped`]; other sessions are unaffected.

use std::sync::Arc;

use lamer_sdk::{PromptPieces, ResetResult, StepResult, Task};
use wasmtime::Store;
use wasmtime::component::ResourceAny;

use super::bindings::{self, wit};
use super::convert;
use super::plugin::PluginShared;
use super::sandbox::{HostState, Sandbox};
use crate::{EnvSession, SessionError};

/// A session of a sandboxed plugin.
pub struct WasmSession {
    plugin: Arc<PluginShared>,
    /// `None` once a fatal error dropped the session.
    live: Option<Live>,
    /// The guest's output at the moment the session was dropped.
    last_output: (String, String),
}

struct Live {
    sandbox: Sandbox,
    handle: ResourceAny,
}

type EnvResult<T> = Result<T, wit::EnvError>;

impl WasmSession {
    pub(crate) fn open(
        plugin: Arc<PluginShared>,
        config_json: &str,
    ) -> Result<WasmSession, SessionError> {
        let mut sandbox = Sandbox::new(&plugin)?;
        let handle = sandbox
            .call("session.open", &plugin, |store, p| {
                p.lamer_env_environment()
                    .session()
                    .call_open(store, config_json)
            })?
            .map_err(convert::env_error)?;
        Ok(WasmSession {
            plugin,
            live: Some(Live { sandbox, handle }),
            last_output: Default::default(),
        })
    }

    /// Whether an earlier fatal error dropped this session.
    pub fn is_dropped(&self) -> bool {
        self.live.is_none()
    }

    /// What the guest wrote to stdout (the newest bytes kept).
    pub fn stdout(&self) -> String {
        match &self.live {
            Some(live) => live.sandbox.stdout(),
            None => self.last_output.0.clone(),
        }
    }

    /// What the guest wrote to stderr (the newest bytes kept).
    pub fn stderr(&self) -> String {
        match &self.live {
            Some(live) => live.sandbox.stderr(),
            None => self.last_output.1.clone(),
        }
    }

    /// Calls a session method; a wasmtime error drops the session, an
    /// environment error is returned as a value.
    fn call<R>(
        &mut self,
        name: &str,
        f: impl FnOnce(
            &mut Store<HostState>,
            &bindings::Plugin,
            ResourceAny,
        ) -> wasmtime::Result<EnvResult<R>>,
    ) -> Result<R, SessionError> {
        let live = self.live.as_mut().ok_or(SessionError::Dropped)?;
        let handle = live.handle;
        match live
            .sandbox
            .call(name, &self.plugin, |store, p| f(store, p, handle))
        {
            Ok(result) => result.map_err(|e| SessionError::Env(convert::env_error(e))),
            Err(fatal) => {
                if let Some(dead) = self.live.take() {
                    self.last_output = (dead.sandbox.stdout(), dead.sandbox.stderr());
                }
                Err(fatal)
            }
        }
    }
}

impl EnvSession for WasmSession {
    fn reset(&mut self, task: &Task) -> Result<ResetResult, SessionError> {
        let task = convert::task(task);
        self.call("session.reset", |store, p, h| {
            p.lamer_env_environment()
                .session()
                .call_reset(store, h, &task)
        })
        .map(convert::reset_result)
    }

    fn restart(&mut self) -> Result<ResetResult, SessionError> {
        self.call("session.restart", |store, p, h| {
            p.lamer_env_environment().session().call_restart(store, h)
        })
        .map(convert::reset_result)
    }

    fn step(&mut self, action: &str) -> Result<StepResult, SessionError> {
        self.call("session.step", |store, p, h| {
            p.lamer_env_environment()
                .session()
                .call_step(store, h, action)
        })
        .map(convert::step_result)
    }

    fn admissible_actions(&mut self) -> Result<Vec<String>, SessionError> {
        self.call("session.admissible-actions", |store, p, h| {
            p.lamer_env_environment()
                .session()
                .call_admissible_actions(store, h)
        })
    }

    fn expert_action(&mut self) -> Result<Option<String>, SessionError> {
        self.call("session.expert-action", |store, p, h| {
            p.lamer_env_environment()
                .session()
                .call_expert_action(store, h)
        })
    }

    fn prompt(&mut self) -> Result<PromptPieces, SessionError> {
        self.call("session.prompt", |store, p, h| {
            p.lamer_env_environment().session().call_prompt(store, h)
        })
        .map(convert::prompt_pieces)
    }
}
