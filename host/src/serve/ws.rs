//! `WS /ws`: one persistent session per connection, on OpenEnv's message
//! protocol.
//!
//! The client sends `{"type": …, "data": …}`; the server answers each message
//! with exactly one message: `{"type": "observation", "data": {"observation",
//! "reward", "done"}}` for `reset`, `step` and `restart`, `{"type": "state"}`
//! for `state`, a message of the same type for `admissible_actions`,
//! `expert_action` and `prompt`, and `{"type": "error", "data": {"message",
//! "code"}}` for anything that failed (the connection stays open). `close`, a
//! closed connection, or no message for the idle timeout closes the session.
//! A session slot is taken when the connection opens; at capacity the server
//! answers `CAPACITY_REACHED` and closes the connection.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::App;
use super::error::ServeError;
use super::session::{self, CloseReason, Kind, Op, Session};
use super::wire::{self, ActionParam, ResetParams};

/// Upgrades the connection, with the request size limit on every message.
pub async fn upgrade(State(app): State<App>, ws: WebSocketUpgrade) -> Response {
    let limit = app.config.max_request_bytes;
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| connection(app, socket))
}

/// What to do after a message.
enum Next {
    Reply(Value),
    Close,
}

async fn send(socket: &mut WebSocket, value: &Value) -> bool {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .is_ok()
}

async fn connection(app: App, mut socket: WebSocket) {
    let session = match app.open_session(Kind::WebSocket) {
        Ok(session) => session,
        Err(error) => {
            app.metrics.error(&error);
            send(&mut socket, &error.ws_message()).await;
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
    };
    let reason = serve_messages(&app, &session, &mut socket).await;
    app.close_session(&session.id, reason);
    let _ = socket.send(Message::Close(None)).await;
}

/// Answers messages until the client closes, goes away or idles out.
async fn serve_messages(app: &App, session: &Arc<Session>, socket: &mut WebSocket) -> CloseReason {
    let idle = app.config.idle_timeout;
    loop {
        let message = match tokio::time::timeout(idle, socket.recv()).await {
            Err(_elapsed) => {
                let error = ServeError::IdleTimeout {
                    seconds: idle.as_secs(),
                };
                send(socket, &error.ws_message()).await;
                return CloseReason::Idle;
            }
            // Gone, or a protocol error (an oversized message among them).
            Ok(None | Some(Err(_))) => return CloseReason::Client,
            Ok(Some(Ok(message))) => message,
        };
        let text = match message {
            Message::Text(text) => text.to_string(),
            Message::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => return CloseReason::Client,
        };
        let reply = match handle(app, session, &text).await {
            Ok(Next::Close) => return CloseReason::Client,
            Ok(Next::Reply(value)) => value,
            Err(error) => {
                app.metrics.error(&error);
                error.ws_message()
            }
        };
        if !send(socket, &reply).await {
            return CloseReason::Client;
        }
    }
}

/// Splits a message into its type and data, refusing other keys.
fn envelope(text: &str) -> Result<(String, Value), ServeError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| ServeError::InvalidJson(e.to_string()))?;
    let Value::Object(mut map) = value else {
        return Err(ServeError::Validation(
            "a message is an object: {\"type\": …, \"data\": …}".into(),
        ));
    };
    let kind = match map.remove("type") {
        Some(Value::String(kind)) => kind,
        _ => {
            return Err(ServeError::Validation(
                "a message needs a string `type`".into(),
            ));
        }
    };
    let data = map.remove("data").unwrap_or(Value::Object(Map::new()));
    if let Some(key) = map.keys().next() {
        return Err(ServeError::Validation(format!(
            "unknown key `{key}`; a message has only `type` and `data`"
        )));
    }
    Ok((kind, data))
}

async fn handle(app: &App, session: &Arc<Session>, text: &str) -> Result<Next, ServeError> {
    let (kind, data) = envelope(text)?;
    let (op, reply_type) = match kind.as_str() {
        "reset" => {
            let params: ResetParams = wire::from_value(data)?;
            if params.session_id.is_some() {
                return Err(ServeError::Validation(
                    "`session_id` is for HTTP; a WebSocket connection is its own session".into(),
                ));
            }
            (Op::Reset(params), "observation")
        }
        "step" => {
            let action: ActionParam = wire::from_value(data)?;
            (Op::Step(action.text().to_string()), "observation")
        }
        "restart" => (Op::Restart, "observation"),
        "state" => (Op::State, "state"),
        "admissible_actions" => (Op::AdmissibleActions, "admissible_actions"),
        "expert_action" => (Op::ExpertAction, "expert_action"),
        "prompt" => (Op::Prompt, "prompt"),
        "close" => return Ok(Next::Close),
        other => return Err(ServeError::UnknownType(other.to_string())),
    };
    let counted = match op {
        Op::Step(_) => Some(false),
        Op::Reset(_) | Op::Restart => Some(true),
        _ => None,
    };
    let data = session::run(Arc::clone(session), app.envs.clone(), op).await?;
    match counted {
        Some(true) => app.metrics.reset(),
        Some(false) => app.metrics.step(),
        None => {}
    }
    Ok(Next::Reply(json!({"type": reply_type, "data": data})))
}
