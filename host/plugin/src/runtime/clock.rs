//! # What time a plugin sees, and how long it may wait
//!
//! Two problems share one answer here.
//!
//! **Waiting must never stall the host.** Epoch interruption stops a guest at
//! its next loop back-edge or function entry, but not while it sits inside a
//! host call. wasmtime-wasi's `wasi:clocks/monotonic-clock.subscribe-*`
//! returns a pollable backed by a real tokio timer, so a guest that calls
//! `std::thread::sleep(one hour)` (`subscribe-duration` + `wasi:io/poll`)
//! would hold the calling host thread for an hour, far past its deadline. So
//! the runtime *shadows* two interfaces in the linker ([`add_to_linker`]):
//! `wasi:io/poll`, whose `poll` and `pollable.block` now give up at the
//! current call's deadline with [`DeadlineExceeded`] (a trap the runtime
//! reports as the call's typed timeout), whatever the guest waits on; and
//! `wasi:clocks/monotonic-clock`, whose `subscribe-*` hand out [`Timer`]
//! pollables on the clock below. Waiting is the only way a guest can hold
//! the host inside a call (stdin is empty and closed, output never blocks,
//! sockets are refused), so bounding every wait bounds every call.
//!
//! **Transcripts must not depend on the wall clock.** By default a plugin
//! runs on a *virtual* clock: it starts at [`VIRTUAL_EPOCH_UNIX_SECS`]
//! (wall clock) and 0 (monotonic) at every reset, advances by
//! [`VIRTUAL_TICK_NANOS`] each time the guest reads it (so elapsed times are
//! never zero and a spin-wait ends), and jumps straight to a timer's wake-up
//! instant when the guest waits on it (asking a timer whether it is ready
//! counts as waiting on it). Sleeping therefore costs no real time and gives
//! the same readings on every run. We chose a virtual clock over
//! refusing the clock imports because ordinary Rust code (`Instant::now`,
//! `thread::sleep`, `SystemTime::now` in a logging crate) should keep working
//! in a plugin; it just cannot make the transcript depend on when it ran.
//!
//! With `real_clock` granted ([`super::SandboxLimits::real_clock`]) the guest
//! reads the host's clocks and a timer sleeps for real, but a wait that would
//! outlast the call's deadline ends there, in the timeout. (Resolving the
//! timer early instead and relying on the epoch to interrupt the guest once
//! back in wasm is not enough: the epoch ticker can lag behind, and the guest
//! would then go on believing it had slept.)
//!
//! A known simplification: several timers polled together all resolve at
//! once in virtual time (the clock jumps to the latest of them), where real
//! time would wake the earliest first. A plugin that races timers against
//! each other is not deterministic by design anyway.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::bindings::io::poll as async_poll;
use wasmtime_wasi::p2::bindings::sync::io::poll as sync_poll;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};
use wasmtime_wasi::runtime::in_tokio;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

use super::sandbox::HostState;

/// The virtual wall clock's reading at the start of every episode:
/// 2000-01-01T00:00:00Z. Any fixed instant would do; this one is obviously
/// not "now".
pub(crate) const VIRTUAL_EPOCH_UNIX_SECS: u64 = 946_684_800;

/// How far the virtual clock advances on each read, and its reported
/// resolution: one microsecond.
pub(crate) const VIRTUAL_TICK_NANOS: u64 = 1_000;

/// The clocks of one store. Cheap to clone; all clones share one reading.
#[derive(Clone)]
pub(crate) struct SandboxTime {
    shared: Arc<TimeShared>,
}

struct TimeShared {
    /// `None` for the virtual clock; the host instant that monotonic 0
    /// stands for when the real clock is granted.
    real_origin: Option<Instant>,
    /// The virtual monotonic reading, in nanoseconds.
    virtual_nanos: AtomicU64,
    /// When the current call's waits must end at the latest (set by every
    /// guest call; `None` before the first, when no wait may block).
    call_deadline: Mutex<Option<Instant>>,
}

impl SandboxTime {
    /// A virtual clock at its episode start.
    pub(crate) fn virtual_clock() -> SandboxTime {
        SandboxTime::new(None)
    }

    /// The host's clocks, as granted by the user.
    pub(crate) fn real_clock() -> SandboxTime {
        SandboxTime::new(Some(Instant::now()))
    }

    fn new(real_origin: Option<Instant>) -> SandboxTime {
        SandboxTime {
            shared: Arc::new(TimeShared {
                real_origin,
                virtual_nanos: AtomicU64::new(0),
                call_deadline: Mutex::new(None),
            }),
        }
    }

    pub(crate) fn is_virtual(&self) -> bool {
        self.shared.real_origin.is_none()
    }

    /// Arms the deadline that every wait of the coming call respects.
    pub(crate) fn set_call_deadline(&self, deadline: Instant) {
        *self
            .shared
            .call_deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(deadline);
    }

    /// The virtual monotonic reading (no effect on a real clock).
    pub(crate) fn virtual_reading(&self) -> u64 {
        self.shared.virtual_nanos.load(Ordering::Relaxed)
    }

    /// Sets the virtual monotonic reading: 0 at a reset, a saved reading at
    /// a restart.
    pub(crate) fn set_virtual_reading(&self, nanos: u64) {
        self.shared.virtual_nanos.store(nanos, Ordering::Relaxed);
    }

    /// The monotonic reading the guest sees now, in nanoseconds.
    fn monotonic_now(&self) -> u64 {
        self.shared.monotonic_now()
    }

    /// The wall-clock hook for `WasiCtxBuilder::wall_clock`.
    pub(crate) fn wall_clock(&self) -> impl HostWallClock + 'static {
        VirtualWallClock(Arc::clone(&self.shared))
    }

    /// The monotonic hook for `WasiCtxBuilder::monotonic_clock`. The
    /// interface itself is shadowed by [`add_to_linker`]; this keeps any other
    /// reader of the context's clock on the same reading.
    pub(crate) fn monotonic_clock(&self) -> impl HostMonotonicClock + 'static {
        VirtualMonotonicClock(Arc::clone(&self.shared))
    }
}

impl TimeShared {
    fn monotonic_now(&self) -> u64 {
        match self.real_origin {
            Some(origin) => u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX),
            None => self
                .virtual_nanos
                .fetch_add(VIRTUAL_TICK_NANOS, Ordering::Relaxed)
                .saturating_add(VIRTUAL_TICK_NANOS),
        }
    }

    fn call_deadline(&self) -> Option<Instant> {
        *self
            .call_deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

struct VirtualWallClock(Arc<TimeShared>);

impl HostWallClock for VirtualWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(VIRTUAL_TICK_NANOS)
    }

    fn now(&self) -> Duration {
        Duration::from_secs(VIRTUAL_EPOCH_UNIX_SECS) + Duration::from_nanos(self.0.monotonic_now())
    }
}

struct VirtualMonotonicClock(Arc<TimeShared>);

impl HostMonotonicClock for VirtualMonotonicClock {
    fn resolution(&self) -> u64 {
        VIRTUAL_TICK_NANOS
    }

    fn now(&self) -> u64 {
        self.0.monotonic_now()
    }
}

/// When a timer wakes.
enum Wake {
    /// At this virtual reading.
    Virtual(u64),
    /// At this host instant; `None` when it lies beyond what an `Instant`
    /// can hold (effectively never).
    Real(Option<Instant>),
}

/// The pollable behind `subscribe-duration` and `subscribe-instant`.
struct Timer {
    time: Arc<TimeShared>,
    wake: Wake,
}

#[wasmtime_wasi::async_trait]
impl Pollable for Timer {
    async fn ready(&mut self) {
        match self.wake {
            // Waiting in virtual time is jumping to the wake-up reading.
            Wake::Virtual(at) => {
                self.time.virtual_nanos.fetch_max(at, Ordering::Relaxed);
            }
            // The wait itself is bounded by the shadowed `wasi:io/poll`.
            Wake::Real(Some(at)) => {
                tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            }
            Wake::Real(None) => std::future::pending().await,
        }
    }
}

/// What the shadowed interface works on: the store's clocks and its resource
/// table (where pollables live).
pub(crate) struct ClockView<'a> {
    time: &'a SandboxTime,
    table: &'a mut ResourceTable,
}

impl<'a> ClockView<'a> {
    pub(crate) fn new(time: &'a SandboxTime, table: &'a mut ResourceTable) -> Self {
        ClockView { time, table }
    }

    fn timer(&mut self, wake: Wake) -> wasmtime::Result<Resource<DynPollable>> {
        let timer = self.table.push(Timer {
            time: Arc::clone(&self.time.shared),
            wake,
        })?;
        subscribe(self.table, timer)
    }
}

impl monotonic_clock::Host for ClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(self.time.monotonic_now())
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(match self.time.shared.real_origin {
            Some(_) => 1,
            None => VIRTUAL_TICK_NANOS,
        })
    }

    fn subscribe_instant(
        &mut self,
        when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let wake = match self.time.shared.real_origin {
            Some(origin) => Wake::Real(origin.checked_add(Duration::from_nanos(when))),
            None => Wake::Virtual(when),
        };
        self.timer(wake)
    }

    fn subscribe_duration(
        &mut self,
        duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let wake = match self.time.shared.real_origin {
            Some(_) => Wake::Real(Instant::now().checked_add(Duration::from_nanos(duration))),
            None => Wake::Virtual(self.time.virtual_reading().saturating_add(duration)),
        };
        self.timer(wake)
    }
}

/// A wait in `wasi:io/poll` reached the call's deadline. The runtime turns
/// it into [`crate::SessionError::Timeout`].
#[derive(Debug, thiserror::Error)]
#[error("the plugin waited in wasi:io/poll past its call deadline")]
pub(crate) struct DeadlineExceeded;

impl ClockView<'_> {
    /// Runs a wait of wasmtime-wasi's own `wasi:io/poll` until the call's
    /// deadline at the latest.
    fn bounded<R>(
        &mut self,
        wait: impl AsyncFnOnce(&mut ResourceTable) -> wasmtime::Result<R>,
    ) -> wasmtime::Result<R> {
        // No deadline armed means no call in progress: nothing may wait.
        let deadline = self
            .time
            .shared
            .call_deadline()
            .unwrap_or_else(Instant::now);
        let table = &mut *self.table;
        in_tokio(async move {
            let deadline = tokio::time::Instant::from_std(deadline);
            match tokio::time::timeout_at(deadline, wait(table)).await {
                Ok(result) => result,
                Err(_elapsed) => Err(wasmtime::Error::new(DeadlineExceeded)),
            }
        })
    }
}

impl sync_poll::Host for ClockView<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        self.bounded(async move |table| async_poll::Host::poll(table, pollables).await)
    }
}

impl sync_poll::HostPollable for ClockView<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        self.bounded(async move |table| async_poll::HostPollable::ready(table, pollable).await)
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        self.bounded(async move |table| async_poll::HostPollable::block(table, pollable).await)
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(self.table, pollable)
    }
}

struct SandboxClocks;

impl HasData for SandboxClocks {
    type Data<'a> = ClockView<'a>;
}

/// Replaces wasmtime-wasi's `wasi:io/poll` and `wasi:clocks/monotonic-clock`
/// in `linker` with the deadline-bounded versions above. Call after
/// `add_to_linker_sync`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = sync_poll::add_to_linker::<HostState, SandboxClocks>(linker, HostState::clocks)
        .and_then(|()| {
            monotonic_clock::add_to_linker::<HostState, SandboxClocks>(linker, HostState::clocks)
        });
    linker.allow_shadowing(false);
    added
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_virtual_clock_ticks_per_read_and_restarts_where_told() {
        let time = SandboxTime::virtual_clock();
        let first = time.monotonic_now();
        let second = time.monotonic_now();
        assert_eq!(first, VIRTUAL_TICK_NANOS);
        assert_eq!(second, 2 * VIRTUAL_TICK_NANOS);
        time.set_virtual_reading(0);
        assert_eq!(time.monotonic_now(), first);
        let wall = time.wall_clock().now();
        assert_eq!(wall.as_secs(), VIRTUAL_EPOCH_UNIX_SECS);
    }

    #[test]
    fn waiting_in_virtual_time_jumps_to_the_wake_up_reading() {
        let time = SandboxTime::virtual_clock();
        let mut timer = Timer {
            time: Arc::clone(&time.shared),
            wake: Wake::Virtual(3_600_000_000_000),
        };
        let started = Instant::now();
        block_on(timer.ready());
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(time.virtual_reading(), 3_600_000_000_000);
    }

    /// Runs a future on a timer-enabled runtime, as wasmtime-wasi's poll does.
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(future)
    }
}
