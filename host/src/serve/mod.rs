//! # `lamer-host serve`: sandboxed environments for any trainer, on OpenEnv's protocol
//!
//! Trainers outside lamer (TRL, verl, SkyRL, a plain PyTorch loop) reach
//! environments through a server. This one speaks the wire protocol of
//! OpenEnv (huggingface/OpenEnv): `POST /reset`, `POST /step`, `GET /state`,
//! `GET /schema`, `GET /health`, `GET /metadata` and a persistent session per
//! `WS /ws` connection, so OpenEnv's own clients drive it unchanged. Where
//! OpenEnv leaves room it carries what our contract has and OpenEnv's lacks:
//! the task as split + index (a seed is mapped to an index, never dropped),
//! `restart`, admissible and expert actions, prompt pieces, and the
//! terminated / truncated / won / action-valid flags with the info pairs
//! (see [`wire`] and `docs/serving.md`).
//!
//! Every session is its own sandbox ([`session`]): the plugin's deadline and
//! memory cap apply per call, and a session whose plugin traps answers a
//! typed error ([`error::ServeError`]) while the server and the other sessions
//! go on. Sessions are bounded (`max_sessions`, a clear `CAPACITY_REACHED`
//! past it), reaped when idle, and every plugin call runs on the blocking
//! pool, off the I/O threads. Plugins are loaded only from the command line,
//! never through the network; the server binds to loopback unless told
//! otherwise and can require a bearer token.

mod error;
mod http;
mod metrics;
mod openapi;
mod session;
mod wire;
mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;

pub use error::ServeError;
pub use session::Envs;

use metrics::Metrics;
use session::{CloseReason, Kind, Session, Sessions};

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The most sessions open at once (WebSocket connections and HTTP sessions).
    pub max_sessions: usize,
    /// A session without a request for this long is closed.
    pub idle_timeout: Duration,
    /// The largest request body or WebSocket message, in bytes.
    pub max_request_bytes: usize,
    /// When set, every route but `/health` needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            max_sessions: 256,
            idle_timeout: Duration::from_secs(600),
            max_request_bytes: 1 << 20,
            token: None,
        }
    }
}

/// What every request handler shares.
pub(crate) struct Shared {
    envs: Arc<Envs>,
    sessions: Sessions,
    metrics: Metrics,
    config: ServeConfig,
}

/// The handlers' state: cheap to clone.
#[derive(Clone)]
pub(crate) struct App(Arc<Shared>);

impl std::ops::Deref for App {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl App {
    fn new(envs: Envs, config: ServeConfig) -> App {
        App(Arc::new(Shared {
            envs: Arc::new(envs),
            sessions: Sessions::new(config.max_sessions),
            metrics: Metrics::default(),
            config,
        }))
    }

    fn open_session(&self, kind: Kind) -> Result<Arc<Session>, ServeError> {
        let session = self.sessions.open(kind)?;
        self.metrics.session_opened();
        Ok(session)
    }

    fn close_session(&self, id: &str, reason: CloseReason) {
        if self.sessions.close(id) {
            self.metrics.sessions_closed(reason, 1);
        }
    }
}

/// The whole application: routes, size limit, token check.
fn router(app: App) -> Router {
    http::routes()
        .route("/ws", axum::routing::get(ws::upgrade))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            http::require_token,
        ))
        .layer(DefaultBodyLimit::max(app.config.max_request_bytes))
        .with_state(app)
}

/// Closes idle HTTP sessions, checking a few times per timeout.
async fn reap_forever(app: App) {
    let idle = app.config.idle_timeout;
    let period = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
    loop {
        tokio::time::sleep(period).await;
        let reaped = app.sessions.reap_idle(idle);
        app.metrics.sessions_closed(CloseReason::Idle, reaped);
    }
}

/// How long open connections get to finish after a stop was asked for.
const GRACE: Duration = Duration::from_secs(2);

/// Serves on `listener` until `stop` completes, then gives open connections
/// [`GRACE`] to finish.
async fn serve_until(
    listener: TcpListener,
    envs: Envs,
    config: ServeConfig,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = App::new(envs, config);
    let reaper = tokio::spawn(reap_forever(app.clone()));
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, router(app)).with_graceful_shutdown(async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    });
    let server = tokio::spawn(async move { server.await });
    stop.await;
    let _ = tx.send(true);
    let result = match tokio::time::timeout(GRACE, server).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(std::io::Error::other(join)),
        Err(_still_open) => Ok(()),
    };
    reaper.abort();
    result
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("lamer-serve")
        .build()
}

/// Serves until Ctrl-C. `ready` is told the bound address (useful with port 0).
pub fn run_until_ctrl_c(
    bind: SocketAddr,
    envs: Envs,
    config: ServeConfig,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let runtime = runtime()?;
    let result = runtime.block_on(async {
        let listener = TcpListener::bind(bind).await?;
        ready(listener.local_addr()?);
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve_until(listener, envs, config, stop).await
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// A server running on its own threads, for tests and benchmarks; stopped
/// when dropped.
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// Binds `bind` (e.g. `127.0.0.1:0`) and serves in the background.
    pub fn start(bind: SocketAddr, envs: Envs, config: ServeConfig) -> std::io::Result<Self> {
        let runtime = runtime()?;
        let listener = runtime.block_on(TcpListener::bind(bind))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("lamer-serve-main".into())
            .spawn(move || {
                let result = runtime.block_on(serve_until(listener, envs, config, async {
                    let _ = stopped.await;
                }));
                runtime.shutdown_timeout(Duration::from_secs(1));
                result
            })?;
        Ok(RunningServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for it.
    pub fn stop(mut self) -> std::io::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}
