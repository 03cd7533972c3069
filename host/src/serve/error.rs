//! What can go wrong with one request, as a typed error with a stable code.
//!
//! Every failure a client can see is a [`ServeError`]. Its [`ServeError::code`]
//! is the machine-readable part (OpenEnv's WebSocket error codes where OpenEnv
//! has one, our own names for what its contract lacks, such as a plugin that
//! ran past its deadline); its message is the same one-line text the CLI
//! prints. Over HTTP it becomes a status and `{"detail": …, "code": …}`, over
//! WebSocket `{"type": "error", "data": {"message": …, "code": …}}`.

use axum::http::StatusCode;
use lamer_plugin::SessionError;
use lamer_sdk::EnvError;
use serde_json::{Value, json};

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServeError {
    /// The body or message is not JSON.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// JSON of the wrong shape (unknown field, wrong type, bad combination).
    #[error("invalid request: {0}")]
    Validation(String),
    /// A WebSocket message of a type the server does not know.
    #[error(
        "unknown message type `{0}`; known: reset, step, state, restart, admissible_actions, expert_action, prompt, close"
    )]
    UnknownType(String),
    /// The body is larger than `--max-request-bytes`.
    #[error("request body larger than the server's limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// Every session slot is taken.
    #[error(
        "the server is at capacity ({active} of {max} sessions open); close a session or retry later"
    )]
    Capacity { active: usize, max: usize },
    /// An HTTP call named a session that does not exist (closed or reaped).
    #[error(
        "no session `{0}` (it was closed, or reaped after its idle timeout); start one with POST /reset without a session_id"
    )]
    UnknownSession(String),
    /// An HTTP call that needs a session came without one.
    #[error(
        "this call needs a `session_id`; POST /reset without one opens a session and returns its id"
    )]
    SessionRequired,
    /// `env` names no loaded plugin.
    #[error("no environment `{name}` is served here; served: {served}")]
    UnknownEnv { name: String, served: String },
    /// A WebSocket session sent nothing for the idle timeout; it is closed.
    #[error("no message for {seconds} s (the idle timeout); the session is closed")]
    IdleTimeout { seconds: u64 },
    /// The bearer token is missing or wrong.
    #[error("missing or wrong bearer token; send `Authorization: Bearer <token>`")]
    Unauthorized,
    /// The environment answered with an error value (bad split, not reset, …).
    #[error(transparent)]
    Env(EnvError),
    /// The episode reached the host's cap on turns (`--max-episode-turns`);
    /// the sandbox is fine, and a reset starts a new episode.
    #[error("{0}; reset to start a new episode")]
    TurnLimit(SessionError),
    /// The plugin call failed in the sandbox (deadline, memory cap, trap); its
    /// sandbox is gone and the next reset opens a fresh one.
    #[error("{0}; the next reset opens a fresh sandbox")]
    Plugin(SessionError),
    /// A bug of the server itself (a worker thread died).
    #[error("internal server error: {0}")]
    Internal(String),
}

impl From<SessionError> for ServeError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Env(env) => ServeError::Env(env),
            limit @ SessionError::TurnLimit { .. } => ServeError::TurnLimit(limit),
            fatal => ServeError::Plugin(fatal),
        }
    }
}

impl ServeError {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ServeError::InvalidJson(_) => "INVALID_JSON",
            ServeError::Validation(_) => "VALIDATION_ERROR",
            ServeError::UnknownType(_) => "UNKNOWN_TYPE",
            ServeError::TooLarge { .. } => "PAYLOAD_TOO_LARGE",
            ServeError::Capacity { .. } => "CAPACITY_REACHED",
            ServeError::UnknownSession(_) => "UNKNOWN_SESSION",
            ServeError::SessionRequired => "SESSION_REQUIRED",
            ServeError::UnknownEnv { .. } => "UNKNOWN_ENV",
            ServeError::IdleTimeout { .. } => "IDLE_TIMEOUT",
            ServeError::Unauthorized => "UNAUTHORIZED",
            ServeError::Env(_) => "ENV_ERROR",
            ServeError::TurnLimit(_) => "TURN_LIMIT",
            ServeError::Plugin(SessionError::Timeout { .. }) => "PLUGIN_TIMEOUT",
            ServeError::Plugin(SessionError::OutOfMemory { .. }) => "PLUGIN_OUT_OF_MEMORY",
            ServeError::Plugin(SessionError::Trap { .. }) => "PLUGIN_TRAP",
            ServeError::Plugin(_) => "PLUGIN_ERROR",
            ServeError::Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ServeError::InvalidJson(_) | ServeError::UnknownType(_) => StatusCode::BAD_REQUEST,
            ServeError::Validation(_) | ServeError::SessionRequired => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ServeError::UnknownEnv { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ServeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ServeError::Capacity { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ServeError::UnknownSession(_) => StatusCode::NOT_FOUND,
            ServeError::IdleTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ServeError::Unauthorized => StatusCode::UNAUTHORIZED,
            ServeError::Env(EnvError::NotReset | EnvError::EpisodeOver) => StatusCode::CONFLICT,
            ServeError::TurnLimit(_) => StatusCode::CONFLICT,
            ServeError::Env(_) => StatusCode::BAD_REQUEST,
            ServeError::Plugin(SessionError::Timeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
            ServeError::Plugin(_) | ServeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Extra machine-readable facts beside the code and message.
    fn details(&self) -> Option<(&'static str, Value)> {
        match self {
            ServeError::Capacity { active, max } => Some((
                "capacity",
                json!({"active_sessions": active, "max_sessions": max}),
            )),
            ServeError::Env(env) => serde_json::to_value(env)
                .ok()
                .and_then(|v| v.get("kind").cloned())
                .map(|kind| ("env_error", kind)),
            _ => None,
        }
    }

    /// The HTTP error body.
    pub fn http_body(&self) -> Value {
        let mut body = json!({"detail": self.to_string(), "code": self.code()});
        if let Some((key, value)) = self.details() {
            body[key] = value;
        }
        body
    }

    /// The WebSocket error message (OpenEnv's `{"type": "error", "data": …}`).
    pub fn ws_message(&self) -> Value {
        let mut data = json!({"message": self.to_string(), "code": self.code()});
        if let Some((key, value)) = self.details() {
            data[key] = value;
        }
        json!({"type": "error", "data": data})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_plugin_errors_keep_their_kind_in_the_code() {
        let timeout: ServeError = SessionError::Timeout {
            call: "session.step".into(),
            limit_ms: 50,
        }
        .into();
        assert_eq!(timeout.code(), "PLUGIN_TIMEOUT");
        assert_eq!(timeout.status(), StatusCode::GATEWAY_TIMEOUT);
        let env: ServeError = SessionError::Env(EnvError::NotReset).into();
        assert_eq!(env.code(), "ENV_ERROR");
        assert_eq!(env.http_body()["env_error"], "not-reset");
    }

    #[test]
    fn capacity_errors_say_how_full_the_server_is() {
        let error = ServeError::Capacity { active: 2, max: 2 };
        let message = error.ws_message();
        assert_eq!(message["type"], "error");
        assert_eq!(message["data"]["code"], "CAPACITY_REACHED");
        assert_eq!(message["data"]["capacity"]["max_sessions"], 2);
    }
}
