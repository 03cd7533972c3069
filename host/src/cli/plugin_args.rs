//! The flags every plugin-driven subcommand shares: which plugin, its session
//! config and its sandbox limits.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use lamer_plugin::{Plugin, Runtime, RuntimeConfig, SandboxLimits};

#[derive(Debug, Clone, Args)]
pub struct PluginArgs {
    /// The environment plugin: a WebAssembly component (.wasm) built with lamer-sdk.
    #[arg(long, value_name = "WASM")]
    pub plugin: PathBuf,

    /// Session config as a JSON object, or @FILE to read it from a file. Keys you
    /// leave out keep their defaults (`lamer-host inspect` lists them).
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub config: String,

    #[command(flatten)]
    pub sandbox: SandboxArgs,

    /// How many plugin instances (sessions, plus one per plugin) may be alive at
    /// once; slots are reserved up front so opening a session is cheap. 0
    /// allocates on demand, without a bound [default: 1024].
    #[arg(long, value_name = "N")]
    pub instance_slots: Option<u32>,
}

/// The sandbox flags every command that loads plugins shares.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Grant the plugin read-only access to this directory; inside the sandbox
    /// it appears as /data. Nothing else on the host is visible to the plugin.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Deadline for each call into the plugin, in milliseconds [default: 5000].
    #[arg(long, value_name = "MS")]
    pub call_timeout_ms: Option<u64>,

    /// Memory cap of each session, in MiB [default: 512].
    #[arg(long, value_name = "MIB")]
    pub memory_mib: Option<usize>,

    /// Where compiled components are cached [default: ~/.cache/lamer/components].
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,

    /// Compile the plugin from scratch, without reading or writing the cache.
    #[arg(long)]
    pub no_cache: bool,
}

impl PluginArgs {
    /// The sandbox limits these flags ask for.
    pub fn limits(&self) -> SandboxLimits {
        let s = &self.sandbox;
        let mut limits = SandboxLimits::default();
        if let Some(ms) = s.call_timeout_ms {
            limits.call_timeout = Duration::from_millis(ms);
        }
        if let Some(mib) = s.memory_mib {
            limits.memory_bytes = mib << 20;
        }
        limits.data_dir = s.data_dir.clone();
        limits
    }

    /// The runtime these flags ask for.
    pub fn runtime(&self) -> anyhow::Result<Runtime> {
        let mut config = RuntimeConfig::default();
        if self.sandbox.no_cache {
            config.cache_dir = None;
        } else if let Some(dir) = &self.sandbox.cache_dir {
            config.cache_dir = Some(dir.clone());
        }
        match self.instance_slots {
            Some(0) => config.instance_slots = None,
            Some(slots) => config.instance_slots = Some(slots),
            None => {}
        }
        Ok(Runtime::new(config)?)
    }

    /// Loads the plugin into a new runtime.
    pub fn load(&self) -> anyhow::Result<Plugin> {
        let runtime = self.runtime()?;
        Ok(runtime.load(&self.plugin, self.limits())?)
    }

    /// The session config JSON (reading `@FILE` if given).
    pub fn config_json(&self) -> anyhow::Result<String> {
        match self.config.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the config file {path}")),
            None => Ok(self.config.clone()),
        }
    }
}
