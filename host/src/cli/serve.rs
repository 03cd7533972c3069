//! `lamer-host serve`: the loaded plugins over HTTP and WebSocket, on
//! OpenEnv's protocol (see `lamer_host::serve` and `docs/serving.md`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use lamer_plugin::EnvFactory;

use super::plugin_args::{PluginArgs, SandboxArgs};
use crate::serve::{Envs, ServeConfig};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// An environment plugin to serve (a .wasm component); repeat for several.
    /// The first is the default; a reset picks another with `"env": NAME`.
    #[arg(long = "plugin", value_name = "WASM", required = true)]
    pub plugins: Vec<PathBuf>,

    /// Address to listen on. The default is loopback only; binding elsewhere
    /// exposes the server to the network (use --token-env then).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,

    /// The most sessions open at once (WebSocket connections plus HTTP
    /// sessions); one more is answered with CAPACITY_REACHED.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_sessions: usize,

    /// Close a session after this many seconds without a request.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub idle_timeout_s: u64,

    /// The largest request body or WebSocket message, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub max_request_bytes: usize,

    /// Require `Authorization: Bearer <token>` on every route but /health,
    /// with the token read from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,

    /// The sandbox of every served plugin.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

impl ServeArgs {
    /// The sandbox flags, in the shape the other subcommands use. Instance
    /// slots cover every session plus each plugin's utility instance.
    fn sandbox(&self) -> PluginArgs {
        let slots = self.max_sessions.saturating_add(self.plugins.len() + 1);
        PluginArgs {
            plugin: self.plugins[0].clone(),
            config: "{}".into(),
            sandbox: self.sandbox.clone(),
            instance_slots: Some(u32::try_from(slots).unwrap_or(u32::MAX)),
        }
    }

    fn token(&self) -> anyhow::Result<Option<String>> {
        let Some(var) = &self.token_env else {
            return Ok(None);
        };
        let token = std::env::var(var)
            .with_context(|| format!("--token-env {var}: the variable is not set"))?;
        anyhow::ensure!(
            !token.trim().is_empty(),
            "--token-env {var}: the variable is empty; put the token in it"
        );
        Ok(Some(token))
    }

    fn config(&self) -> anyhow::Result<ServeConfig> {
        anyhow::ensure!(self.max_sessions > 0, "--max-sessions must be at least 1");
        anyhow::ensure!(
            self.idle_timeout_s > 0,
            "--idle-timeout-s must be at least 1"
        );
        Ok(ServeConfig {
            max_sessions: self.max_sessions,
            idle_timeout: Duration::from_secs(self.idle_timeout_s),
            max_request_bytes: self.max_request_bytes.max(1024),
            token: self.token()?,
        })
    }
}

/// Loads every plugin into one runtime (they share its pooled slots).
fn load(args: &ServeArgs) -> anyhow::Result<Envs> {
    let sandbox = args.sandbox();
    let runtime = sandbox.runtime()?;
    let mut factories: Vec<Arc<dyn EnvFactory>> = Vec::new();
    for path in &args.plugins {
        let plugin = runtime.load(path, sandbox.limits())?;
        factories.push(Arc::new(plugin));
    }
    Envs::new(factories).map_err(anyhow::Error::msg)
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let envs = load(&args)?;
    if !args.bind.ip().is_loopback() && config.token.is_none() {
        eprintln!(
            "warning: serving on {} without --token-env: anyone who can reach it can open sessions",
            args.bind
        );
    }
    let names: Vec<String> = envs.all().iter().map(|f| f.info().name.clone()).collect();
    let max_sessions = config.max_sessions;
    crate::serve::run_until_ctrl_c(args.bind, envs, config, |addr| {
        println!(
            "serving {} on http://{addr} (ws://{addr}/ws), at most {max_sessions} sessions; Ctrl-C stops",
            names.join(", ")
        );
    })
    .with_context(|| format!("cannot serve on {}", args.bind))
}
