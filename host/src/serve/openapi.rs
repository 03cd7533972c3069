//! The OpenAPI document at `/openapi.json`. OpenEnv's validator reads its
//! `info.version` (the runtime contract's version, 1.x here) and its `paths`
//! (a simulation-mode server has `/reset`, `/step` and `/state`).

use serde_json::{Map, Value, json};

/// The version of OpenEnv's HTTP contract this server speaks.
pub const CONTRACT_VERSION: &str = "1.0.0";

/// `(path, method, summary)` of every HTTP route.
const ROUTES: &[(&str, &str, &str)] = &[
    (
        "/reset",
        "post",
        "Start an episode (opens a session without a session_id)",
    ),
    ("/step", "post", "Apply one action in a session"),
    (
        "/state",
        "get",
        "The episode state of a session (?session_id=…)",
    ),
    (
        "/restart",
        "post",
        "Return to the identical initial state of the session's task",
    ),
    ("/admissible_actions", "post", "The meaningful actions now"),
    (
        "/expert_action",
        "post",
        "The environment's oracle action, if it has one",
    ),
    ("/prompt", "post", "The environment-specific prompt pieces"),
    ("/close", "post", "Close a session"),
    (
        "/schema",
        "get",
        "JSON schemas of action, observation and state",
    ),
    ("/metadata", "get", "The served environments"),
    ("/health", "get", "Health check"),
    ("/metrics", "get", "Prometheus metrics"),
    (
        "/mcp",
        "post",
        "JSON-RPC endpoint (no MCP tools are exposed)",
    ),
];

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for (path, method, summary) in ROUTES {
        let operation = json!({
            "summary": summary,
            "responses": {"200": {"description": "OK", "content": {"application/json": {}}}},
        });
        paths.insert(path.to_string(), json!({ *method: operation }));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "lamer-host serve",
            "description": "lamer environments on OpenEnv's protocol; see docs/serving.md",
            "version": CONTRACT_VERSION,
        },
        "paths": paths,
    })
}
