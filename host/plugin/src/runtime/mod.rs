//! The sandboxed wasmtime runtime.
//!
//! A [`Runtime`] owns one wasmtime `Engine` (epoch interruption on, a
//! background ticker thread driving it), a `Linker` with WASI 0.2 and an
//! optional on-disk compile cache. [`Runtime::load`] reads a component, checks
//! that it exports a compatible `lamer:env/environment`, pre-instantiates it and
//! asks it for its [`lamer_sdk::EnvInfo`]; the resulting [`Plugin`] opens
//! sessions, each in its own `Store` under the plugin's [`SandboxLimits`].
//! Instances live in a pool of slots reserved up front
//! ([`RuntimeConfig::instance_slots`]), so a session costs a store and an
//! instantiation into a recycled slot, not fresh memory mappings.
//!
//! The sandbox grants no ambient authority: no preopened directories (except an
//! optional read-only data directory), no environment variables, no arguments,
//! no network, and unless the user grants them no wall clock and no OS
//! randomness (a virtual clock and task-seeded random streams instead, see
//! `clock` and `entropy`). No WASI import lets a guest wait past its call's
//! deadline. A guest that loops, sleeps, exhausts memory or traps loses its
//! session with a typed [`crate::SessionError`]; the host and other sessions
//! go on.

mod bindings;
mod cache;
mod clock;
mod convert;
mod entropy;
mod error;
mod limits;
mod plugin;
mod sandbox;
mod session;
mod stdio;
mod ticker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

pub use error::LoadError;
pub use limits::{DEFAULT_MAX_EPISODE_TURNS, SandboxLimits};
pub use plugin::Plugin;
pub use session::WasmSession;

use cache::CompileCache;
use plugin::PluginParts;
use sandbox::HostState;
use ticker::EpochTicker;

/// The WIT interface every plugin exports, without its version.
const ENV_INTERFACE: &str = "lamer:env/environment";

/// How the runtime is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Where compiled components are cached; `None` disables the cache.
    /// Defaults to [`default_cache_dir`].
    pub cache_dir: Option<PathBuf>,
    /// How often the epoch advances. Call deadlines are rounded up to whole
    /// ticks, so this is the timeout's resolution.
    pub epoch_tick: Duration,
    /// How many plugin instances may be alive at once (every session is one,
    /// and every loaded plugin keeps one more for calls outside sessions).
    /// `Some(n)` reserves `n` slots up front with wasmtime's pooling
    /// allocator, so opening a session reuses a slot instead of mapping fresh
    /// memory (several times faster); opening one more than `n` fails with
    /// [`crate::SessionError::Runtime`]. `None` allocates every instance on
    /// demand, without a bound. Defaults to [`DEFAULT_INSTANCE_SLOTS`].
    pub instance_slots: Option<u32>,
}

/// The default number of pooled instance slots: room for the largest
/// rollouts of the paper's recipes (16 tasks × 24 trials, plus validation).
pub const DEFAULT_INSTANCE_SLOTS: u32 = 1024;

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: default_cache_dir(),
            epoch_tick: Duration::from_millis(10),
            instance_slots: Some(DEFAULT_INSTANCE_SLOTS),
        }
    }
}

/// Upper bounds per plugin instance that size the pool. A component built for
/// wasm32-wasip2 has a handful of core instances (the program, the WASI
/// adapter and the shims between them), one memory and two tables. Each
/// memory slot reserves 4 GiB of address space (not of memory), so the pool
/// holds one per instance: 1,024 slots take 4 TiB of the 128 TiB a process
/// can address. A component that needs more fails to load with
/// [`LoadError::TooBigForPool`], which says how to load it on demand.
const CORE_INSTANCES_PER_SLOT: u32 = 8;
const MEMORIES_PER_SLOT: u32 = 1;
const TABLES_PER_SLOT: u32 = 4;
/// The largest linear memory a pooled slot can hold: all of wasm32's 4 GiB,
/// so the pool never caps below a plugin's own [`SandboxLimits::memory_bytes`]
/// (which is what is enforced).
const MAX_POOLED_MEMORY_BYTES: usize = 4 << 30;

/// How much of a pooled slot's memory (and tables) is reset in place and kept
/// resident between sessions; a small environment's whole working set.
const KEEP_RESIDENT_BYTES: usize = 4 << 20;

/// Whether the kernel reports dirty pages (`PAGEMAP_SCAN`, Linux 6.7+). Without
/// it, keeping memory resident means `memset`-ing all of it on every reuse,
/// which costs more than the `madvise` it saves.
fn kernel_reports_dirty_pages() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .is_ok_and(|release| linux_release_at_least(&release, (6, 7)))
}

/// `release` is a kernel release string such as `6.18.44-generic`.
fn linux_release_at_least(release: &str, wanted: (u32, u32)) -> bool {
    let mut parts = release.trim().split(['.', '-']);
    let mut number = || parts.next().and_then(|p| p.parse::<u32>().ok());
    match (number(), number()) {
        (Some(major), Some(minor)) => (major, minor) >= wanted,
        _ => false,
    }
}

/// The pooling allocator for `slots` live instances.
fn pooling_strategy(slots: u32) -> wasmtime::InstanceAllocationStrategy {
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots.saturating_mul(CORE_INSTANCES_PER_SLOT))
        .total_memories(slots.saturating_mul(MEMORIES_PER_SLOT))
        .total_tables(slots.saturating_mul(TABLES_PER_SLOT))
        .max_core_instances_per_component(CORE_INSTANCES_PER_SLOT)
        .max_memories_per_component(MEMORIES_PER_SLOT)
        .max_tables_per_component(TABLES_PER_SLOT)
        .max_memory_size(MAX_POOLED_MEMORY_BYTES);
    // Resetting a slot for reuse: where the kernel can report which pages the
    // last session dirtied, only those are restored in place and stay
    // resident, instead of being returned to the kernel with `madvise` and
    // faulted in again by the next session (which cost more than the rest of
    // opening a session together).
    if kernel_reports_dirty_pages() {
        pool.pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_BYTES);
    }
    wasmtime::InstanceAllocationStrategy::Pooling(pool)
}

/// `$XDG_CACHE_HOME/lamer/components`, else `~/.cache/lamer/components`, else
/// `None` (no cache) when neither variable is set.
pub fn default_cache_dir() -> Option<PathBuf> {
    let non_empty = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    let base = non_empty("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("lamer").join("components"))
}

/// What all plugins of a runtime share. The epoch ticker lives as long as the
/// last plugin or session, so deadlines keep working after the `Runtime`
/// handle itself is dropped.
pub(crate) struct RuntimeShared {
    /// The pool size, if instances are pooled.
    pub(crate) instance_slots: Option<u32>,
    engine: Engine,
    linker: Linker<HostState>,
    cache: Option<CompileCache>,
    pub(crate) epoch_tick: Duration,
    _ticker: EpochTicker,
}

impl RuntimeShared {
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// The plugin runtime: one engine, one linker, one compile cache.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<RuntimeShared>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cache_dir", &self.cache_dir())
            .field("epoch_tick", &self.shared.epoch_tick)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Creates the engine, the WASI linker and the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, LoadError> {
        let engine_error = |e: &dyn std::fmt::Display| LoadError::Engine {
            message: e.to_string(),
        };
        let mut wasmtime_config = Config::new();
        wasmtime_config.epoch_interruption(true);
        let instance_slots = config.instance_slots.map(|slots| slots.max(1));
        if let Some(slots) = instance_slots {
            wasmtime_config.allocation_strategy(pooling_strategy(slots));
        }
        let engine = Engine::new(&wasmtime_config).map_err(|e| engine_error(&e))?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| engine_error(&e))?;
        clock::add_to_linker(&mut linker).map_err(|e| engine_error(&e))?;
        let epoch_tick = config.epoch_tick.max(Duration::from_millis(1));
        let ticker =
            EpochTicker::start(engine.clone(), epoch_tick).map_err(|e| engine_error(&e))?;
        let cache = config.cache_dir.map(|dir| CompileCache::new(dir, &engine));
        Ok(Runtime {
            shared: Arc::new(RuntimeShared {
                instance_slots,
                engine,
                linker,
                cache,
                epoch_tick,
                _ticker: ticker,
            }),
        })
    }

    /// The compile cache directory, if caching is on.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.shared.cache.as_ref().map(|c| c.dir())
    }

    /// Loads a plugin component from `path` under `limits`.
    pub fn load(&self, path: &Path, limits: SandboxLimits) -> Result<Plugin, LoadError> {
        let path_buf = path.to_path_buf();
        if !path.exists() {
            return Err(LoadError::Missing { path: path_buf });
        }
        let bytes = std::fs::read(path).map_err(|e| LoadError::Read {
            path: path_buf.clone(),
            message: e.to_string(),
        })?;
        if let Some(found) = not_a_component(&bytes) {
            return Err(LoadError::NotAComponent {
                path: path_buf,
                found: found.to_string(),
            });
        }
        if let Some(dir) = &limits.data_dir
            && !dir.is_dir()
        {
            return Err(LoadError::DataDir {
                path: dir.clone(),
                message: "not a directory".into(),
            });
        }
        let engine = &self.shared.engine;
        let compile_error = |e: wasmtime::Error| compile_error(&path_buf, &e);
        let (component, cache_hit) = match &self.shared.cache {
            Some(cache) => {
                let cached = cache.load(engine, &bytes).map_err(compile_error)?;
                (cached.component, cached.hit)
            }
            None => (
                Component::new(engine, &bytes).map_err(compile_error)?,
                false,
            ),
        };
        let component_type = component.component_type();
        let exports: Vec<String> = component_type
            .exports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let imports: Vec<String> = component_type
            .imports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        check_contract(path, &exports)?;
        let link_error = |e: wasmtime::Error| LoadError::Link {
            path: path_buf.clone(),
            message: format!("{e:#}"),
        };
        let instance_pre = self
            .shared
            .linker
            .instantiate_pre(&component)
            .map_err(link_error)?;
        let pre = bindings::PluginPre::new(instance_pre).map_err(link_error)?;
        Plugin::new(PluginParts {
            runtime: Arc::clone(&self.shared),
            pre,
            limits,
            path: path_buf,
            imports,
            exports,
            cache_hit,
        })
    }
}

/// The load error for a failed compile (or cache deserialisation).
fn compile_error(path: &Path, error: &wasmtime::Error) -> LoadError {
    let message = format!("{error:#}");
    let path = path.to_path_buf();
    // Wasmtime checks a component against the pool's per-slot bounds while
    // compiling it; that is no corrupt file.
    if message.contains("pooling allocator") {
        LoadError::TooBigForPool { path, message }
    } else {
        LoadError::Compile { path, message }
    }
}

/// Why these bytes are not a component, if they are not. A hand-rolled header
/// check (8 bytes) gives a precise message before compiling anything.
fn not_a_component(bytes: &[u8]) -> Option<&'static str> {
    const MAGIC: &[u8] = b"\0asm";
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Some("the file is not WebAssembly at all");
    }
    // Bytes 4..6 are the version, 6..8 the layer: 0 for a core module, 1 for
    // a component.
    match (bytes[6], bytes[7]) {
        (1, 0) => None,
        (0, 0) => Some("it is a core WebAssembly module, e.g. built for wasm32-wasip1"),
        _ => Some("it has an unknown WebAssembly layer"),
    }
}

/// Checks the exports for a compatible `lamer:env/environment` before
/// instantiating, to give a precise message.
fn check_contract(path: &Path, exports: &[String]) -> Result<(), LoadError> {
    let supported = lamer_sdk::CONTRACT_VERSION;
    let found = exports.iter().find_map(|name| {
        let rest = name.strip_prefix(ENV_INTERFACE)?;
        match rest.strip_prefix('@') {
            Some(version) => Some(version.to_string()),
            None if rest.is_empty() => Some("(unversioned)".to_string()),
            None => None,
        }
    });
    match found {
        None => Err(LoadError::WrongWorld {
            path: path.to_path_buf(),
            exports: if exports.is_empty() {
                "none".into()
            } else {
                exports.join(", ")
            },
            supported: format!("{}.x", minor_track(supported)),
        }),
        Some(version) if minor_track(&version) == minor_track(supported) => Ok(()),
        Some(version) => Err(LoadError::IncompatibleVersion {
            path: path.to_path_buf(),
            found: version,
            supported: format!("{}.x", minor_track(supported)),
        }),
    }
}

/// The semver compatibility track of a version: `major` for 1.0 and later,
/// `0.minor` before (where every minor release may break).
fn minor_track(version: &str) -> String {
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or("");
    let minor = parts.next().unwrap_or("");
    if major == "0" {
        format!("0.{minor}")
    } else {
        major.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_check_tells_modules_components_and_garbage_apart() {
        assert!(not_a_component(b"\0asm\x0d\0\x01\0rest").is_none());
        assert!(
            not_a_component(b"\0asm\x01\0\0\0rest")
                .unwrap()
                .contains("core")
        );
        assert!(
            not_a_component(b"hello world")
                .unwrap()
                .contains("not WebAssembly")
        );
        assert!(not_a_component(b"").is_some());
    }

    #[test]
    fn contract_versions_on_the_same_track_are_accepted() {
        let p = Path::new("x.wasm");
        let ok = |v: &str| check_contract(p, &[format!("lamer:env/environment@{v}")]);
        assert!(ok("0.1.0").is_ok());
        assert!(ok("0.1.7").is_ok());
        assert!(matches!(
            ok("0.2.0"),
            Err(LoadError::IncompatibleVersion { found, .. }) if found == "0.2.0"
        ));
        assert!(matches!(
            ok("1.0.0"),
            Err(LoadError::IncompatibleVersion { .. })
        ));
        assert!(matches!(
            check_contract(p, &["wasi:cli/run@0.2.6".to_string()]),
            Err(LoadError::WrongWorld { .. })
        ));
        assert!(matches!(
            check_contract(p, &["lamer:env/environmental@0.1.0".to_string()]),
            Err(LoadError::WrongWorld { .. })
        ));
    }

    #[test]
    fn a_component_too_big_for_a_slot_is_told_to_load_on_demand() {
        let p = Path::new("big.wasm");
        let too_big = wasmtime::Error::msg(
            "The component transitively contains 2 memories, which exceeds the configured \
             maximum of 1 in the pooling allocator",
        );
        let error = compile_error(p, &too_big);
        assert!(matches!(error, LoadError::TooBigForPool { .. }), "{error}");
        assert!(error.to_string().contains("--instance-slots 0"), "{error}");
        let corrupt = wasmtime::Error::msg("invalid leading byte");
        assert!(matches!(
            compile_error(p, &corrupt),
            LoadError::Compile { .. }
        ));
    }

    #[test]
    fn kernel_releases_compare_by_major_and_minor() {
        assert!(linux_release_at_least("6.18.44-fc-v657\n", (6, 7)));
        assert!(linux_release_at_least("6.7.0", (6, 7)));
        assert!(linux_release_at_least("7.0-rc1", (6, 7)));
        assert!(!linux_release_at_least(
            "6.6.87.2-microsoft-standard-WSL2",
            (6, 7)
        ));
        assert!(!linux_release_at_least("5.15.0-91-generic", (6, 7)));
        assert!(!linux_release_at_least("", (6, 7)));
        assert!(!linux_release_at_least("garbage", (6, 7)));
    }

    #[test]
    fn default_cache_dir_ends_in_lamer_components() {
        if let Some(dir) = default_cache_dir() {
            assert!(dir.ends_with("lamer/components"));
        }
    }

    #[test]
    fn runtime_and_plugin_are_thread_safe() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Runtime>();
        send_sync::<Plugin>();
        send::<WasmSession>();
    }
}
