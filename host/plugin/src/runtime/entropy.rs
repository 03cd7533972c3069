//! # What randomness a plugin sees
//!
//! By default `wasi:random/random` and `wasi:random/insecure` draw from
//! seeded ChaCha8 streams ([`lamer_sdk::SeededRng`]) instead of the host's
//! OS randomness, so a plugin that seeds its own generator from
//! `getrandom`, or iterates a `HashMap`, still gives the same transcript on
//! every run. Only `os_random` ([`super::SandboxLimits::os_random`]) hands it
//! the host's randomness.
//!
//! The seed follows the episode, because a task, not a session, is what
//! must be reproducible: the contract's `reset(task)` carries no seed of its
//! own, so every reset reseeds both streams from [`task_seed`] of the task
//! (split name and index), and the streams' state right after the reset is
//! saved, so a `restart` rewinds them to it. A reset of task 3 is thus the
//! same whatever the session played before, and replaying an action list
//! after a restart draws the same numbers. Calls outside episodes (opening
//! a session, `info`, `brief-observation`) start from [`OUTSIDE_EPISODE_SEED`].
//!
//! `wasi:random/insecure-seed` is a constant of the store (meant to be read
//! once at start-up, for hash-map keys), derived from the same fixed seed.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use lamer_sdk::{SeededRng, Task, mix_seed};

/// The seed of everything a store does outside an episode.
pub(crate) const OUTSIDE_EPISODE_SEED: u64 = 0x6c61_6d65_725f_7361; // "lamer_sa"

/// Salts of the two streams, so they never coincide.
const SECURE_SALT: u64 = 1;
const INSECURE_SALT: u64 = 2;
const INSECURE_SEED_SALT: u64 = 3;

/// The seed of a task's randomness: its index mixed with a hash of its split
/// name (FNV-1a), so `train/3` and `test/3` differ.
pub(crate) fn task_seed(task: &Task) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in task.split.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    mix_seed(hash, task.index)
}

/// The store's constant `insecure-seed`.
pub(crate) fn insecure_seed() -> u128 {
    let high = mix_seed(OUTSIDE_EPISODE_SEED, INSECURE_SEED_SALT);
    let low = mix_seed(high, INSECURE_SEED_SALT);
    (u128::from(high) << 64) | u128::from(low)
}

#[derive(Clone)]
struct Streams {
    secure: SeededRng,
    insecure: SeededRng,
}

impl Streams {
    fn seeded(seed: u64) -> Streams {
        Streams {
            secure: SeededRng::new(mix_seed(seed, SECURE_SALT)),
            insecure: SeededRng::new(mix_seed(seed, INSECURE_SALT)),
        }
    }
}

/// The seeded random streams of one store. Cheap to clone; clones share the
/// streams.
#[derive(Clone)]
pub(crate) struct Entropy {
    streams: Arc<Mutex<Streams>>,
}

/// A saved position of both streams.
#[derive(Clone)]
pub(crate) struct EntropySnapshot(Streams);

impl Entropy {
    pub(crate) fn new(seed: u64) -> Entropy {
        Entropy {
            streams: Arc::new(Mutex::new(Streams::seeded(seed))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Restarts both streams from `seed`.
    pub(crate) fn reseed(&self, seed: u64) {
        *self.lock() = Streams::seeded(seed);
    }

    pub(crate) fn snapshot(&self) -> EntropySnapshot {
        EntropySnapshot(self.lock().clone())
    }

    pub(crate) fn restore(&self, snapshot: &EntropySnapshot) {
        *self.lock() = snapshot.0.clone();
    }

    /// The generator for `WasiCtxBuilder::secure_random`.
    pub(crate) fn secure(&self) -> StreamRng {
        StreamRng {
            entropy: self.clone(),
            insecure: false,
        }
    }

    /// The generator for `WasiCtxBuilder::insecure_random`.
    pub(crate) fn insecure(&self) -> StreamRng {
        StreamRng {
            entropy: self.clone(),
            insecure: true,
        }
    }
}

/// One of the two streams, as a generator wasmtime-wasi can own.
pub(crate) struct StreamRng {
    entropy: Entropy,
    insecure: bool,
}

impl StreamRng {
    fn draw<R>(&mut self, f: impl FnOnce(&mut SeededRng) -> R) -> R {
        let mut streams = self.entropy.lock();
        if self.insecure {
            f(&mut streams.insecure)
        } else {
            f(&mut streams.secure)
        }
    }
}

impl rand_core::TryRng for StreamRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        // The high half: ChaCha's words are uniform, either half would do.
        Ok((self.draw(SeededRng::next_u64) >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.draw(SeededRng::next_u64))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.draw(|rng| {
            for chunk in dst.chunks_mut(8) {
                let word = rng.next_u64().to_le_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn a_reseed_replays_the_stream_and_a_snapshot_rewinds_it() {
        let entropy = Entropy::new(7);
        let mut rng = entropy.secure();
        let first: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        entropy.reseed(7);
        let again: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(first, again);
        let saved = entropy.snapshot();
        let after = rng.next_u64();
        entropy.restore(&saved);
        assert_eq!(rng.next_u64(), after);
    }

    #[test]
    fn the_streams_and_the_tasks_differ() {
        let entropy = Entropy::new(7);
        let (mut secure, mut insecure) = (entropy.secure(), entropy.insecure());
        assert_ne!(secure.next_u64(), insecure.next_u64());
        assert_ne!(
            task_seed(&Task::new("train", 3)),
            task_seed(&Task::new("test", 3))
        );
        assert_ne!(
            task_seed(&Task::new("train", 3)),
            task_seed(&Task::new("train", 4))
        );
        let mut bytes = [0u8; 13];
        secure.fill_bytes(&mut bytes);
        assert!(bytes.iter().any(|&b| b != 0));
    }
}
