//! Why a plugin could not be loaded. Every message says what to do about it.

use std::path::PathBuf;

/// A failure to create the runtime or to load a plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The wasmtime engine could not be configured.
    #[error("cannot start the plugin runtime: {message}; this is a bug in lamer, please report it")]
    Engine { message: String },
    /// No file at the path.
    #[error(
        "plugin file {} does not exist; check the path, or build the plugin with \
         `cargo build --profile plugin --target wasm32-wasip2 -p <crate>`",
        path.display()
    )]
    Missing { path: PathBuf },
    /// The file exists but could not be read.
    #[error("cannot read plugin file {}: {message}; check its permissions", path.display())]
    Read { path: PathBuf, message: String },
    /// The file is a core module, or not WebAssembly at all.
    #[error(
        "{} is not a WebAssembly component ({found}); build it with \
         `cargo build --target wasm32-wasip2` (e.g. `--profile plugin`) from a crate that uses \
         lamer-sdk's `export_env!`",
        path.display()
    )]
    NotAComponent { path: PathBuf, found: String },
    /// The component could not be compiled.
    #[error("cannot compile {}: {message}; the file may be corrupt, rebuild the plugin", path.display())]
    Compile { path: PathBuf, message: String },
    /// The component needs more per instance (memories, tables, core
    /// instances) than a pooled instance slot holds.
    #[error(
        "{} needs more than a pooled instance slot holds ({message}); load it with on-demand \
         allocation instead: `--instance-slots 0` (`RuntimeConfig::instance_slots: None`)",
        path.display()
    )]
    TooBigForPool { path: PathBuf, message: String },
    /// A component, but not of the `plugin` world.
    #[error(
        "{} does not export `lamer:env/environment@{supported}` (its exports: {exports}); \
         it is not a lamer environment plugin — write one with lamer-sdk's `export_env!`",
        path.display()
    )]
    WrongWorld {
        path: PathBuf,
        exports: String,
        supported: String,
    },
    /// Built against another version of the contract.
    #[error(
        "{} was built against contract lamer:env@{found}, but this host supports \
         lamer:env@{supported}; rebuild the plugin against this host's lamer-sdk",
        path.display()
    )]
    IncompatibleVersion {
        path: PathBuf,
        found: String,
        supported: String,
    },
    /// The exports have the right name but the wrong shape, or the component
    /// imports something the sandbox does not provide.
    #[error(
        "{} cannot run in the sandbox: {message}; plugins may import only WASI 0.2 \
         (cli, io, clocks, random, filesystem) — rebuild it against this host's lamer-sdk",
        path.display()
    )]
    Link { path: PathBuf, message: String },
    /// The plugin failed while reporting its `info`.
    #[error("{} failed while reporting its info: {message}; fix the plugin's `Environment::info`", path.display())]
    Info { path: PathBuf, message: String },
    /// The granted data directory is unusable.
    #[error("cannot grant data directory {}: {message}; pass an existing, readable directory", path.display())]
    DataDir { path: PathBuf, message: String },
}
