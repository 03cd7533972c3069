//! One sandboxed instance: a wasmtime `Store` with its WASI context, memory cap
//! and captured stdio, plus the instantiated plugin. Every call into the guest
//! goes through [`Sandbox::call`], which arms the deadline and turns a trap
//! into a typed [`SessionError`].
//!
//! A trap poisons a component instance for good, so a sandbox that failed once
//! is never called again: its owner drops it.

use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings;
use super::limits::{MemoryCap, SandboxLimits};
use super::plugin::PluginShared;
use super::stdio::BoundedLog;
use crate::SessionError;

/// How much of the guest's stderr a trap error carries.
const STDERR_TAIL_BYTES: usize = 2048;
/// How much of wasmtime's error text a trap error carries.
const MESSAGE_BYTES: usize = 1024;

/// The data of one store: WASI state and the memory cap.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A WASI context with no ambient authority: no arguments, no environment
/// variables, no network, no clocks beyond the standard ones, and no file
/// system except the optional read-only data directory.
fn wasi_context(
    limits: &SandboxLimits,
    stdout: &BoundedLog,
    stderr: &BoundedLog,
) -> Result<WasiCtx, SessionError> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        // Already the defaults; stated so a future default change cannot
        // silently open the network.
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    if let Some(dir) = &limits.data_dir {
        builder
            .preopened_dir(dir, lamer_sdk::DATA_DIR, FsPerms::ReadOnly)
            .map_err(|e| {
                SessionError::Runtime(format!(
                    "cannot grant data directory {}: {e}",
                    dir.display()
                ))
            })?;
    }
    Ok(builder.build())
}

/// A live, instantiated plugin in its own store.
pub(crate) struct Sandbox {
    store: Store<HostState>,
    pub(crate) bindings: bindings::Plugin,
    stderr: BoundedLog,
    stdout: BoundedLog,
}

impl Sandbox {
    /// A fresh store and instance from the plugin's pre-instantiated component.
    pub(crate) fn new(plugin: &PluginShared) -> Result<Sandbox, SessionError> {
        let limits = &plugin.limits;
        let stdout = BoundedLog::new(limits.stdio_bytes);
        let stderr = BoundedLog::new(limits.stdio_bytes);
        let state = HostState {
            wasi: wasi_context(limits, &stdout, &stderr)?,
            table: ResourceTable::new(),
            memory: MemoryCap::new(limits.memory_bytes),
        };
        let mut store = Store::new(plugin.runtime.engine(), state);
        store.limiter(|state| &mut state.memory);
        store.set_epoch_deadline(plugin.deadline_ticks);
        match plugin.pre.instantiate(&mut store) {
            Ok(bindings) => Ok(Sandbox {
                store,
                bindings,
                stderr,
                stdout,
            }),
            Err(error) if error.is::<wasmtime::PoolConcurrencyLimitError>() => {
                Err(SessionError::Runtime(format!(
                    "cannot open another instance of the plugin: {error}; every pooled \
                     instance slot is in use by a live session — close sessions, or raise \
                     `RuntimeConfig::instance_slots` (`--instance-slots` on the command line)"
                )))
            }
            Err(error) => Err(classify("instantiate", &error, &store, &stderr, plugin)),
        }
    }

    /// Runs one guest call under the plugin's deadline and memory cap.
    pub(crate) fn call<R>(
        &mut self,
        name: &str,
        plugin: &PluginShared,
        f: impl FnOnce(&mut Store<HostState>, &bindings::Plugin) -> wasmtime::Result<R>,
    ) -> Result<R, SessionError> {
        self.store.set_epoch_deadline(plugin.deadline_ticks);
        self.store.data_mut().memory.clear_refused();
        f(&mut self.store, &self.bindings)
            .map_err(|error| classify(name, &error, &self.store, &self.stderr, plugin))
    }

    /// What the guest wrote to stdout (the newest bytes kept).
    pub(crate) fn stdout(&self) -> String {
        self.stdout.contents()
    }

    /// What the guest wrote to stderr (the newest bytes kept).
    pub(crate) fn stderr(&self) -> String {
        self.stderr.contents()
    }
}

/// Turns a failed guest call into the session error it stands for.
fn classify(
    call: &str,
    error: &wasmtime::Error,
    store: &Store<HostState>,
    stderr: &BoundedLog,
    plugin: &PluginShared,
) -> SessionError {
    let memory = &store.data().memory;
    // A refused growth explains the trap that follows it (the guest allocator
    // aborts with `unreachable`), whatever its trap code.
    if memory.refused() {
        return SessionError::OutOfMemory {
            limit_bytes: memory.limit(),
        };
    }
    let trap = error.downcast_ref::<Trap>();
    if matches!(trap, Some(Trap::Interrupt)) {
        return SessionError::Timeout {
            call: call.to_string(),
            limit_ms: u64::try_from(plugin.limits.call_timeout.as_millis()).unwrap_or(u64::MAX),
        };
    }
    let mut message = match trap {
        Some(trap) => trap.to_string(),
        None => format!("{error:#}"),
    };
    truncate_at_char(&mut message, MESSAGE_BYTES);
    SessionError::Trap {
        call: call.to_string(),
        message,
        stderr_tail: stderr.tail(STDERR_TAIL_BYTES),
    }
}

fn truncate_at_char(text: &mut String, max_bytes: usize) {
    if text.len() > max_bytes {
        let mut end = max_bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
}
