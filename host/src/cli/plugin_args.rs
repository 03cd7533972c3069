//! The flags every plugin-driven subcommand shares: which plugin, its session
//! config and its sandbox limits.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use lamer_plugin::{DEFAULT_MAX_EPISODE_TURNS, Plugin, Runtime, RuntimeConfig, SandboxLimits};

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

    /// The most turns one episode may take; a plugin that never ends an
    /// episode gets a typed error at this cap instead of running forever.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_EPISODE_TURNS)]
    pub max_episode_turns: u32,

    /// Grant the plugin what the sandbox withholds by default, comma-separated:
    /// `real-clock` (the host's clocks, instead of a virtual clock that starts
    /// at 2000-01-01 every episode) and `os-random` (the host's randomness,
    /// instead of streams seeded by the task). Either makes transcripts
    /// depend on the run.
    #[arg(long, value_enum, value_name = "GRANTS", value_delimiter = ',')]
    pub grant: Vec<Grant>,
}

/// What a user may grant a plugin beyond the sandbox's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Grant {
    /// The host's wall and monotonic clocks (sleeps still end at the deadline).
    RealClock,
    /// The host's OS randomness.
    OsRandom,
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
        limits.max_episode_turns = s.max_episode_turns.max(1);
        limits.real_clock = s.grant.contains(&Grant::RealClock);
        limits.os_random = s.grant.contains(&Grant::OsRandom);
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        plugin: PluginArgs,
    }

    fn limits(args: &[&str]) -> SandboxLimits {
        let mut argv = vec!["lamer-host", "--plugin", "p.wasm"];
        argv.extend_from_slice(args);
        Cli::parse_from(argv).plugin.limits()
    }

    #[test]
    fn grants_and_the_turn_cap_reach_the_sandbox_limits() {
        let default = limits(&[]);
        assert!(!default.real_clock && !default.os_random);
        assert_eq!(default.max_episode_turns, DEFAULT_MAX_EPISODE_TURNS);
        let clock = limits(&["--grant", "real-clock"]);
        assert!(clock.real_clock && !clock.os_random);
        let both = limits(&[
            "--grant",
            "real-clock,os-random",
            "--max-episode-turns",
            "7",
        ]);
        assert!(both.real_clock && both.os_random);
        assert_eq!(both.max_episode_turns, 7);
        assert!(Cli::try_parse_from(["x", "--plugin", "p", "--grant", "network"]).is_err());
    }
}
