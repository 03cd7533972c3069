//! One sandboxed instance: a wasmtime `Store` with its WASI context, memory cap
//! and captured stdio, plus the instantiated plugin. Every call into the guest
//! goes through [`Sandbox::call`], which arms the deadline and turns a trap
//! into a typed [`SessionError`]. The store's clock and random streams are
//! rewound by episode ([`Sandbox::start_episode`], [`Sandbox::rewind`]), so a
//! task plays the same whatever the session did before.
//!
//! A trap poisons a component instance for good, so a sandbox that failed once
//! is never called again: its owner drops it.

use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings;
use super::clock::{ClockView, DeadlineExceeded, SandboxTime};
use super::entropy::{self, Entropy, EntropySnapshot};
use super::limits::{MemoryCap, SandboxLimits};
use super::plugin::PluginShared;
use super::stdio::BoundedLog;
use crate::SessionError;

/// How much of the guest's stderr a trap error carries.
const STDERR_TAIL_BYTES: usize = 2048;
/// How much of wasmtime's error text a trap error carries.
const MESSAGE_BYTES: usize = 1024;

/// The data of one store: WASI state, the memory cap, and the clock and
/// random streams the guest sees.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    time: SandboxTime,
    entropy: Entropy,
}

impl HostState {
    /// The view the shadowed `wasi:io/poll` and `wasi:clocks/monotonic-clock`
    /// work on.
    pub(crate) fn clocks(&mut self) -> ClockView<'_> {
        ClockView::new(&self.time, &mut self.table)
    }
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
/// variables, no network, no file system except the optional read-only data
/// directory, and (unless granted) a virtual clock and seeded randomness.
fn wasi_context(
    limits: &SandboxLimits,
    stdout: &BoundedLog,
    stderr: &BoundedLog,
    time: &SandboxTime,
    entropy: &Entropy,
) -> Result<WasiCtx, SessionError> {
    let mut builder = WasiCtxBuilder::new();
    if time.is_virtual() {
        builder
            .wall_clock(time.wall_clock())
            .monotonic_clock(time.monotonic_clock());
    }
    if !limits.os_random {
        builder
            .secure_random(entropy.secure())
            .insecure_random(entropy.insecure())
            .insecure_random_seed(entropy::insecure_seed());
    }
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
    /// The virtual clock reading and random streams right after the last
    /// successful reset, for [`Sandbox::rewind`].
    initial: Option<(u64, EntropySnapshot)>,
}

impl Sandbox {
    /// A fresh store and instance from the plugin's pre-instantiated component.
    pub(crate) fn new(plugin: &PluginShared) -> Result<Sandbox, SessionError> {
        let limits = &plugin.limits;
        let stdout = BoundedLog::new(limits.stdio_bytes);
        let stderr = BoundedLog::new(limits.stdio_bytes);
        let time = if limits.real_clock {
            SandboxTime::real_clock()
        } else {
            SandboxTime::virtual_clock()
        };
        let entropy = Entropy::new(entropy::OUTSIDE_EPISODE_SEED);
        let state = HostState {
            wasi: wasi_context(limits, &stdout, &stderr, &time, &entropy)?,
            table: ResourceTable::new(),
            memory: MemoryCap::new(limits.memory_bytes),
            time,
            entropy,
        };
        let mut store = Store::new(plugin.runtime.engine(), state);
        store.limiter(|state| &mut state.memory);
        arm_deadline(&mut store, plugin);
        match plugin.pre.instantiate(&mut store) {
            Ok(bindings) => Ok(Sandbox {
                store,
                bindings,
                stderr,
                stdout,
                initial: None,
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
        arm_deadline(&mut self.store, plugin);
        self.store.data_mut().memory.clear_refused();
        f(&mut self.store, &self.bindings)
            .map_err(|error| classify(name, &error, &self.store, &self.stderr, plugin))
    }

    /// Starts the clock and random streams of an episode (or of a call
    /// outside episodes) from `seed`: the virtual clock back to 0, both
    /// streams reseeded. What [`Sandbox::rewind`] returns to changes only
    /// with [`Sandbox::save_initial`], as a failed reset leaves the plugin's
    /// own restart point where it was.
    pub(crate) fn start_episode(&mut self, seed: u64) {
        let state = self.store.data();
        state.time.set_virtual_reading(0);
        state.entropy.reseed(seed);
    }

    /// Remembers the clock and random streams as they are now (right after a
    /// successful reset).
    pub(crate) fn save_initial(&mut self) {
        let state = self.store.data();
        self.initial = Some((state.time.virtual_reading(), state.entropy.snapshot()));
    }

    /// Returns the clock and random streams to where the last reset left them.
    pub(crate) fn rewind(&mut self) {
        if let Some((reading, streams)) = &self.initial {
            let state = self.store.data();
            state.time.set_virtual_reading(*reading);
            state.entropy.restore(streams);
        }
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

/// Arms the deadline of the next guest call twice: in epoch ticks for the
/// guest's own code, and as an instant for its waits in `wasi:io/poll`
/// (which the epoch cannot interrupt, see `clock.rs`).
fn arm_deadline(store: &mut Store<HostState>, plugin: &PluginShared) {
    store.set_epoch_deadline(plugin.deadline_ticks);
    let now = Instant::now();
    // A deadline beyond what an `Instant` holds is as good as a year away.
    let deadline = now
        .checked_add(plugin.limits.call_timeout)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
    store.data().time.set_call_deadline(deadline);
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
    if matches!(trap, Some(Trap::Interrupt)) || error.is::<DeadlineExceeded>() {
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
