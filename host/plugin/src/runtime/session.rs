//! One playing session in its own store. After a fatal error (trap, timeout,
//! memory cap) the store is dropped and every later call answers
//! [`SessionError::Dropped`]; other sessions are unaffected.
//!
//! The session also keeps the host's side of an episode: it counts turns
//! against `SandboxLimits::max_episode_turns`, and starts the store's clock
//! and random streams from the task at every reset (and rewinds them at
//! every restart), so an episode's transcript depends on the task and the
//! actions only.

use std::sync::Arc;

use lamer_sdk::{PromptPieces, ResetResult, StepResult, Task};
use wasmtime::Store;
use wasmtime::component::ResourceAny;

use super::bindings::{self, wit};
use super::convert;
use super::entropy;
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
    /// Steps taken since the last reset or restart.
    turns: u32,
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
            turns: 0,
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

/// Refuses a value over its limit with a typed error naming the call.
fn bounded(call: &str, what: &'static str, size: usize, limit: usize) -> Result<(), SessionError> {
    if size > limit {
        return Err(SessionError::OutputTooLarge {
            call: call.to_string(),
            what,
            size,
            limit,
        });
    }
    Ok(())
}

fn info_bytes(info: &[lamer_sdk::InfoPair]) -> usize {
    info.iter().map(|p| p.key.len() + p.value.len()).sum()
}

impl WasmSession {
    fn bound_reset(&self, call: &str, r: ResetResult) -> Result<ResetResult, SessionError> {
        let limits = &self.plugin.limits;
        bounded(call, "info pairs", r.info.len(), limits.max_info_pairs)?;
        let bytes = r.observation.len() + info_bytes(&r.info);
        bounded(call, "bytes", bytes, limits.max_output_bytes)?;
        Ok(r)
    }
}

impl EnvSession for WasmSession {
    fn reset(&mut self, task: &Task) -> Result<ResetResult, SessionError> {
        if let Some(live) = &mut self.live {
            live.sandbox.start_episode(entropy::task_seed(task));
        }
        let task = convert::task(task);
        let r = self
            .call("session.reset", |store, p, h| {
                p.lamer_env_environment()
                    .session()
                    .call_reset(store, h, &task)
            })
            .map(convert::reset_result)?;
        if let Some(live) = &mut self.live {
            live.sandbox.save_initial();
        }
        self.turns = 0;
        self.bound_reset("session.reset", r)
    }

    fn restart(&mut self) -> Result<ResetResult, SessionError> {
        if let Some(live) = &mut self.live {
            live.sandbox.rewind();
        }
        let r = self
            .call("session.restart", |store, p, h| {
                p.lamer_env_environment().session().call_restart(store, h)
            })
            .map(convert::reset_result)?;
        self.turns = 0;
        self.bound_reset("session.restart", r)
    }

    fn step(&mut self, action: &str) -> Result<StepResult, SessionError> {
        let limit = self.plugin.limits.max_episode_turns;
        if self.turns >= limit && !self.is_dropped() {
            return Err(SessionError::TurnLimit { limit });
        }
        let r = self
            .call("session.step", |store, p, h| {
                p.lamer_env_environment()
                    .session()
                    .call_step(store, h, action)
            })
            .map(convert::step_result)?;
        self.turns = self.turns.saturating_add(1);
        let limits = &self.plugin.limits;
        bounded(
            "session.step",
            "info pairs",
            r.info.len(),
            limits.max_info_pairs,
        )?;
        let bytes = r.observation.len() + r.action_echo.len() + info_bytes(&r.info);
        bounded("session.step", "bytes", bytes, limits.max_output_bytes)?;
        Ok(r)
    }

    fn admissible_actions(&mut self) -> Result<Vec<String>, SessionError> {
        let call = "session.admissible-actions";
        let actions = self.call(call, |store, p, h| {
            p.lamer_env_environment()
                .session()
                .call_admissible_actions(store, h)
        })?;
        let limits = &self.plugin.limits;
        bounded(
            call,
            "actions",
            actions.len(),
            limits.max_admissible_actions,
        )?;
        let bytes = actions.iter().map(String::len).sum();
        bounded(call, "bytes", bytes, limits.max_output_bytes)?;
        Ok(actions)
    }

    fn expert_action(&mut self) -> Result<Option<String>, SessionError> {
        let call = "session.expert-action";
        let action = self.call(call, |store, p, h| {
            p.lamer_env_environment()
                .session()
                .call_expert_action(store, h)
        })?;
        let bytes = action.as_ref().map_or(0, String::len);
        bounded(call, "bytes", bytes, self.plugin.limits.max_output_bytes)?;
        Ok(action)
    }

    fn prompt(&mut self) -> Result<PromptPieces, SessionError> {
        let call = "session.prompt";
        let pieces = self
            .call(call, |store, p, h| {
                p.lamer_env_environment().session().call_prompt(store, h)
            })
            .map(convert::prompt_pieces)?;
        let bytes = [
            &pieces.role,
            &pieces.rules,
            &pieces.initial_state_label,
            &pieces.action_instruction,
            &pieces.reflect_instruction,
        ]
        .iter()
        .map(|s| s.len())
        .sum();
        bounded(call, "bytes", bytes, self.plugin.limits.max_output_bytes)?;
        Ok(pieces)
    }
}
