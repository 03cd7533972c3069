//! The compile cache: cranelift output of a component, stored on disk so a
//! plugin is compiled once per machine and engine configuration.
//!
//! An entry is keyed by the SHA-256 of the component bytes *and* a fingerprint
//! of the engine (wasmtime's `precompile_compatibility_hash` plus the wasmtime
//! version), so a different host build never loads an incompatible artifact.
//! Entries are written to a temporary file and renamed into place, so readers
//! never see half-written files. Every cache failure (unreadable, corrupt,
//! incompatible, unwritable) falls back to compiling: the cache only ever
//! saves time.

use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where precompiled components are kept.
#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_fingerprint: String,
}

/// Feeds `Hash` output into a SHA-256 (std's `DefaultHasher` is not stable
/// across Rust releases, which would silently invalidate caches).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        // Only `write` is used; the digest is read from the inner hasher.
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A component loaded through the cache, and whether it was a hit.
pub(crate) struct Cached {
    pub component: Component,
    pub hit: bool,
}

impl CompileCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        hasher.0.update(b"wasmtime ");
        hasher.0.update(wasmtime_version().as_bytes());
        let engine_fingerprint = hex(&hasher.0.finalize()[..8]);
        CompileCache {
            dir,
            engine_fingerprint,
        }
    }

    /// The cache directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache file for these component bytes.
    pub(crate) fn entry_path(&self, component_bytes: &[u8]) -> PathBuf {
        let digest = hex(&Sha256::digest(component_bytes));
        self.dir
            .join(format!("{digest}-{}.cwasm", self.engine_fingerprint))
    }

    /// Loads the precompiled component, or compiles it and stores the result.
    pub(crate) fn load(&self, engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Cached> {
        let entry = self.entry_path(bytes);
        if entry.is_file() {
            // SAFETY: the artifact was produced by `Engine::precompile_component`
            // of an engine with the same compatibility fingerprint and written
            // atomically into the user's own cache directory; wasmtime checks
            // the header and the engine configuration before using it. A file
            // it rejects is recompiled below.
            if let Ok(component) = unsafe { Component::deserialize_file(engine, &entry) } {
                return Ok(Cached {
                    component,
                    hit: true,
                });
            }
        }
        let artifact = engine.precompile_component(bytes)?;
        // Best effort: a cache that cannot be written costs time, not correctness.
        let _ = self.store(&entry, &artifact);
        // SAFETY: `artifact` was produced just now by this engine.
        let component = unsafe { Component::deserialize(engine, &artifact)? };
        Ok(Cached {
            component,
            hit: false,
        })
    }

    fn store(&self, entry: &Path, artifact: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        temp.write_all(artifact)?;
        temp.as_file().sync_all()?;
        temp.persist(entry).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The wasmtime version this host was built with (part of the cache key).
fn wasmtime_version() -> &'static str {
    // The `wasmtime` crate exposes no version constant. Its compatibility hash
    // already covers the exact crate version (the default
    // `ModuleVersionStrategy`); this major version keeps the key explicit.
    "48"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_bytes_and_engine() {
        let engine = Engine::default();
        let dir = PathBuf::from("/nonexistent");
        let cache = CompileCache::new(dir.clone(), &engine);
        assert_eq!(cache.entry_path(b"abc"), cache.entry_path(b"abc"));
        assert_ne!(cache.entry_path(b"abc"), cache.entry_path(b"abd"));
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let other = CompileCache::new(dir, &Engine::new(&config).unwrap());
        assert_ne!(cache.entry_path(b"abc"), other.entry_path(b"abc"));
    }
}
