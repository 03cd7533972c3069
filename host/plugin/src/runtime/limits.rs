//! What one plugin session may use: time per call, memory, captured output,
//! turns per episode and an optional read-only data directory. Everything
//! else is denied; the host's clocks and OS randomness only when granted
//! (without the grants a plugin sees a virtual clock and seeded randomness,
//! see `clock.rs` and `entropy.rs`).

use std::path::PathBuf;
use std::time::Duration;

/// The default cap on turns per episode: far above any environment's own
/// turn limit (the paper's run at most 50), far below what fills memory.
pub const DEFAULT_MAX_EPISODE_TURNS: u32 = 1000;

/// Per-plugin sandbox limits. The defaults are safe for untrusted plugins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxLimits {
    /// Wall-clock deadline of one call into the guest (open, reset, step, …).
    /// A call past it becomes [`crate::SessionError::Timeout`].
    pub call_timeout: Duration,
    /// Cap on the linear memory of one session's store, in bytes. Growing past
    /// it becomes [`crate::SessionError::OutOfMemory`].
    pub memory_bytes: usize,
    /// How many of the newest bytes of the guest's stdout and of its stderr
    /// are kept (each).
    pub stdio_bytes: usize,
    /// A host directory granted to this plugin, read-only, at
    /// [`lamer_sdk::DATA_DIR`] (`/data`). `None` grants no file system at all.
    pub data_dir: Option<PathBuf>,
    /// The most text one call may return (an observation with its echo and
    /// info pairs, the admissible actions, the prompt pieces), in bytes. More
    /// becomes [`crate::SessionError::OutputTooLarge`], so a plugin cannot
    /// grow the host (and every recorded trajectory) by its observations.
    pub max_output_bytes: usize,
    /// The most admissible actions one call may list.
    pub max_admissible_actions: usize,
    /// The most info pairs one reset or step may return.
    pub max_info_pairs: usize,
    /// The most steps one episode may take, counted from its reset or
    /// restart. One more becomes [`crate::SessionError::TurnLimit`] without
    /// calling the plugin, so a plugin that never ends an episode cannot grow
    /// a transcript (or the host) without bound.
    pub max_episode_turns: u32,
    /// Grant the host's wall and monotonic clocks. Without it the plugin runs
    /// on a virtual clock that starts at the same instant every episode and
    /// on which sleeping takes no time. Either way no sleep outlasts the
    /// call's deadline.
    pub real_clock: bool,
    /// Grant the host's OS randomness. Without it `wasi:random` draws from
    /// streams seeded by the task, so transcripts are reproducible.
    pub os_random: bool,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            call_timeout: Duration::from_secs(5),
            memory_bytes: 512 << 20,
            stdio_bytes: 64 << 10,
            data_dir: None,
            max_output_bytes: 1 << 20,
            max_admissible_actions: 10_000,
            max_info_pairs: 256,
            max_episode_turns: DEFAULT_MAX_EPISODE_TURNS,
            real_clock: false,
            os_random: false,
        }
    }
}

/// The guest's tables may not outgrow this many elements (a table element is a
/// pointer on the host, so this bounds host memory at a few MiB).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// A [`wasmtime::ResourceLimiter`] that caps the total linear memory of a store
/// and remembers that it refused a growth. The flag is how the runtime tells an
/// out-of-memory abort from any other trap: a refused `memory.grow` makes the
/// guest's allocator abort with a plain `unreachable` trap, indistinguishable
/// from a panic by the trap code alone.
#[derive(Debug)]
pub(crate) struct MemoryCap {
    limit: usize,
    committed: usize,
    refused: bool,
}

impl MemoryCap {
    pub(crate) fn new(limit: usize) -> Self {
        MemoryCap {
            limit,
            committed: 0,
            refused: false,
        }
    }

    /// Whether a growth was refused since the last [`Self::clear_refused`].
    pub(crate) fn refused(&self) -> bool {
        self.refused
    }

    pub(crate) fn clear_refused(&mut self) {
        self.refused = false;
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A store may hold several memories; the cap is on their sum.
        let total = self
            .committed
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.limit {
            self.refused = true;
            return Ok(false);
        }
        self.committed = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn refuses_growth_past_the_cap_and_remembers_it() {
        let mut cap = MemoryCap::new(100);
        assert!(cap.memory_growing(0, 60, None).unwrap());
        assert!(!cap.refused());
        // A second memory of 50 would make the sum 110.
        assert!(!cap.memory_growing(0, 50, None).unwrap());
        assert!(cap.refused());
        // Growing the first memory within the cap still works.
        cap.clear_refused();
        assert!(cap.memory_growing(60, 100, None).unwrap());
        assert!(!cap.refused());
    }

    #[test]
    fn defaults_are_the_documented_safe_values() {
        let limits = SandboxLimits::default();
        assert_eq!(limits.call_timeout, Duration::from_secs(5));
        assert_eq!(limits.memory_bytes, 512 << 20);
        assert_eq!(limits.stdio_bytes, 64 << 10);
        assert_eq!(limits.data_dir, None);
        assert_eq!(limits.max_episode_turns, 1000);
        assert!(!limits.real_clock && !limits.os_random);
    }
}
