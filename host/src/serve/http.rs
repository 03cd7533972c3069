//! The HTTP routes: OpenEnv's (`/reset`, `/step`, `/state`, `/schema`,
//! `/health`, `/metadata`, `/mcp`, `/openapi.json`), ours beyond them
//! (`/restart`, `/admissible_actions`, `/expert_action`, `/prompt`, `/close`,
//! `/metrics`), and the bearer-token check in front of them.
//!
//! OpenEnv's plain HTTP `/reset` and `/step` build a fresh environment per
//! request, so an episode over HTTP is impossible there. Here a `/reset`
//! without a `session_id` opens a session and answers its id; every later
//! call names it. Bodies are read as bytes and parsed here, so that malformed
//! JSON, a wrong shape and an oversized body each answer their own typed error.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get, routing::post};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::App;
use super::error::ServeError;
use super::session::{self, CloseReason, Kind, Op};
use super::wire::{self, ResetParams, SessionBody, StepBody};

/// The HTTP routes (the WebSocket route is added beside them).
pub fn routes() -> Router<App> {
    Router::new()
        .route("/reset", post(reset))
        .route("/step", post(step))
        .route("/state", get(state))
        .route("/restart", post(restart))
        .route("/admissible_actions", post(admissible_actions))
        .route("/expert_action", post(expert_action))
        .route("/prompt", post(prompt))
        .route("/close", post(close))
        .route(
            "/health",
            get(|| async { Json(json!({"status": "healthy"})) }),
        )
        .route("/metadata", get(metadata))
        .route("/schema", get(|| async { Json(wire::schemas()) }))
        .route("/metrics", get(metrics))
        .route(
            "/openapi.json",
            get(|| async { Json(super::openapi::document()) }),
        )
        .route("/mcp", post(mcp))
}

type Body = Result<Bytes, BytesRejection>;

/// An answer: the value, or the error as status + JSON (and counted).
fn answer(app: &App, result: Result<Value, ServeError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => error_response(app, &error),
    }
}

fn error_response(app: &App, error: &ServeError) -> Response {
    app.metrics.error(error);
    (error.status(), Json(error.http_body())).into_response()
}

/// Parses a request body; an empty body is `{}`.
fn parse_body<T: DeserializeOwned>(app: &App, body: Body) -> Result<T, ServeError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ServeError::TooLarge {
                limit: app.config.max_request_bytes,
            }
        } else {
            ServeError::Validation(rejection.body_text())
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return wire::from_value(Value::Null);
    }
    wire::parse(&bytes)
}

fn required(id: Option<String>) -> Result<String, ServeError> {
    id.ok_or(ServeError::SessionRequired)
}

async fn reset(State(app): State<App>, body: Body) -> Response {
    let result = reset_inner(&app, body).await;
    answer(&app, result)
}

async fn reset_inner(app: &App, body: Body) -> Result<Value, ServeError> {
    let params: ResetParams = parse_body(app, body)?;
    let (session, fresh) = match &params.session_id {
        Some(id) => (app.sessions.get_http(id)?, false),
        None => (app.open_session(Kind::Http)?, true),
    };
    match session::run(session.clone(), app.envs.clone(), Op::Reset(params)).await {
        Ok(mut value) => {
            app.metrics.reset();
            value["session_id"] = Value::String(session.id.clone());
            Ok(value)
        }
        Err(error) => {
            if fresh {
                // A session that never started is not left holding a slot.
                app.close_session(&session.id, CloseReason::Client);
            }
            Err(error)
        }
    }
}

async fn step(State(app): State<App>, body: Body) -> Response {
    let result = step_inner(&app, body).await;
    answer(&app, result)
}

async fn step_inner(app: &App, body: Body) -> Result<Value, ServeError> {
    let body: StepBody = parse_body(app, body)?;
    let session = app.sessions.get_http(&required(body.session_id)?)?;
    let action = body.action.text().to_string();
    let mut value = session::run(session.clone(), app.envs.clone(), Op::Step(action)).await?;
    app.metrics.step();
    value["session_id"] = Value::String(session.id.clone());
    if let Some(request_id) = body.request_id {
        value["request_id"] = Value::String(request_id);
    }
    Ok(value)
}

async fn state(
    State(app): State<App>,
    query: Result<Query<SessionBody>, QueryRejection>,
) -> Response {
    let result = async {
        let Query(query) = query.map_err(|e| ServeError::Validation(e.body_text()))?;
        let session = app.sessions.get_http(&required(query.session_id)?)?;
        let mut value = session::run(session.clone(), app.envs.clone(), Op::State).await?;
        value["session_id"] = Value::String(session.id.clone());
        Ok(value)
    }
    .await;
    answer(&app, result)
}

async fn restart(app: State<App>, body: Body) -> Response {
    session_call(app, body, Op::Restart).await
}

async fn admissible_actions(app: State<App>, body: Body) -> Response {
    session_call(app, body, Op::AdmissibleActions).await
}

async fn expert_action(app: State<App>, body: Body) -> Response {
    session_call(app, body, Op::ExpertAction).await
}

async fn prompt(app: State<App>, body: Body) -> Response {
    session_call(app, body, Op::Prompt).await
}

async fn session_call(State(app): State<App>, body: Body, op: Op) -> Response {
    let restart = matches!(op, Op::Restart);
    let result = async {
        let body: SessionBody = parse_body(&app, body)?;
        let session = app.sessions.get_http(&required(body.session_id)?)?;
        let mut value = session::run(session.clone(), app.envs.clone(), op).await?;
        if restart {
            app.metrics.reset();
        }
        value["session_id"] = Value::String(session.id.clone());
        Ok(value)
    }
    .await;
    answer(&app, result)
}

async fn close(State(app): State<App>, body: Body) -> Response {
    let result = (|| {
        let body: SessionBody = parse_body(&app, body)?;
        let id = required(body.session_id)?;
        app.sessions.get_http(&id)?;
        app.close_session(&id, CloseReason::Client);
        Ok(json!({"session_id": id, "closed": true}))
    })();
    answer(&app, result)
}

async fn metadata(State(app): State<App>) -> Json<Value> {
    let envs: Vec<Value> = app
        .envs
        .all()
        .iter()
        .map(|f| {
            let info = f.info();
            json!({
                "name": info.name,
                "version": info.version,
                "description": info.description,
                "default_max_turns": info.default_max_turns,
                "splits": info.splits,
                "default_config": serde_json::from_str::<Value>(&info.default_config).unwrap_or(Value::Null),
            })
        })
        .collect();
    let first = app.envs.all()[0].info();
    Json(json!({
        "name": first.name,
        "description": first.description,
        "version": first.version,
        "readme_content": null,
        "author": null,
        "documentation_url": null,
        "server": {"name": "lamer-host serve", "version": env!("CARGO_PKG_VERSION")},
        "envs": envs,
        "max_sessions": app.sessions.max(),
    }))
}

async fn metrics(State(app): State<App>) -> Response {
    let text = app
        .metrics
        .render(app.sessions.open_count(), app.sessions.max());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// A minimal JSON-RPC 2.0 endpoint, so MCP clients get a well-formed answer:
/// the environments expose no MCP tools (`tools/list` is empty).
async fn mcp(body: Bytes) -> Json<Value> {
    let rpc_error = |id: Value, code: i64, message: &str| json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return Json(rpc_error(Value::Null, -32700, "Parse error"));
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let valid = request.get("jsonrpc") == Some(&json!("2.0"));
    match request.get("method").and_then(Value::as_str) {
        Some("tools/list") if valid => {
            Json(json!({"jsonrpc": "2.0", "id": id, "result": {"tools": []}}))
        }
        Some(_) if valid => Json(rpc_error(id, -32601, "Method not found")),
        _ => Json(rpc_error(id, -32600, "Invalid Request")),
    }
}

/// Whether the headers carry `Authorization: Bearer <token>`.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let Some(given) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
        return false;
    };
    // Compare without an early exit, so timing does not reveal a prefix.
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Refuses every route but `/health` without the bearer token, when one is set.
pub async fn require_token(State(app): State<App>, request: Request, next: Next) -> Response {
    if let Some(token) = &app.config.token
        && request.uri().path() != "/health"
        && !bearer_matches(request.headers(), token)
    {
        return error_response(&app, &ServeError::Unauthorized);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let mut headers = HeaderMap::new();
        assert!(!bearer_matches(&headers, "s3cret"));
        headers.insert(header::AUTHORIZATION, "Bearer s3cre".parse().unwrap());
        assert!(!bearer_matches(&headers, "s3cret"));
        headers.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(bearer_matches(&headers, "s3cret"));
        headers.insert(header::AUTHORIZATION, "s3cret".parse().unwrap());
        assert!(!bearer_matches(&headers, "s3cret"));
    }
}
