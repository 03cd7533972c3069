//! The JSON shapes on the wire: what clients send and what they get back.
//!
//! They follow OpenEnv's: a reset or step answers `{"observation": {…},
//! "reward": …, "done": …}`, and an action is an object (`{"text": "up"}`).
//! Everything our contract has beyond OpenEnv's lives inside the observation
//! under plain names — the task as `split` + `index`, `terminated`,
//! `truncated`, `won`, `action_valid`, the echoed `action`, the `info` pairs —
//! so OpenEnv's generic client, which keeps only the observation, reward and
//! done, loses none of it. Unknown request fields are refused, never ignored:
//! a seed a client believes it sent is never silently dropped.

use lamer_sdk::{ResetResult, StepResult, Task};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::ServeError;

/// `POST /reset` body, or the `data` of a WebSocket `reset` message.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetParams {
    /// Chooses the task deterministically: index = seed mod the split's task
    /// count. Not together with `index`.
    pub seed: Option<u64>,
    /// The task's index within the split. Not together with `seed`.
    pub index: Option<u64>,
    /// The split (default `train`, else the environment's first split).
    pub split: Option<String>,
    /// Which loaded environment (default: the first `--plugin`).
    pub env: Option<String>,
    /// Session config: a JSON object (or its text). A different config or
    /// environment than the session's reopens its sandbox.
    pub config: Option<Value>,
    /// A label echoed in `/state`.
    pub episode_id: Option<String>,
    /// HTTP only: the session to reset; without it a new session is opened.
    pub session_id: Option<String>,
}

/// An action: `{"text": "up"}` (OpenEnv style) or just `"up"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ActionParam {
    Text(String),
    Object(ActionObject),
}

/// The object form of an action.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionObject {
    pub text: String,
    /// Accepted for OpenEnv compatibility (its actions carry one); unused.
    #[serde(default, rename = "metadata")]
    pub _metadata: Map<String, Value>,
}

impl ActionParam {
    pub fn text(&self) -> &str {
        match self {
            ActionParam::Text(text) => text,
            ActionParam::Object(object) => &object.text,
        }
    }
}

/// `POST /step` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepBody {
    pub action: ActionParam,
    pub session_id: Option<String>,
    /// OpenEnv's request label; echoed back.
    pub request_id: Option<String>,
}

/// The body of the HTTP calls that only name a session (`/restart`,
/// `/admissible_actions`, `/expert_action`, `/prompt`, `/close`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    pub session_id: Option<String>,
}

/// Parses a JSON body into `T`, telling malformed JSON from a wrong shape.
pub fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ServeError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| ServeError::InvalidJson(e.to_string()))?;
    from_value(value)
}

/// Converts parsed JSON into `T` (an empty body or `null` means `{}`).
pub fn from_value<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ServeError> {
    let value = if value.is_null() { json!({}) } else { value };
    serde_json::from_value(value).map_err(|e| ServeError::Validation(e.to_string()))
}

/// Info pairs as a JSON object (a repeated key keeps its last value).
fn info_object(info: &[lamer_sdk::InfoPair]) -> Value {
    let map: Map<String, Value> = info
        .iter()
        .map(|pair| (pair.key.clone(), Value::String(pair.value.clone())))
        .collect();
    Value::Object(map)
}

/// The answer to a reset or restart.
pub fn reset_response(env: &str, task: &Task, seed: Option<u64>, reset: &ResetResult) -> Value {
    json!({
        "observation": {
            "text": reset.observation,
            "env": env,
            "task": {"split": task.split, "index": task.index},
            "seed": seed,
            "info": info_object(&reset.info),
            "terminated": false,
            "truncated": false,
            "won": false,
            "action_valid": true,
            "action": null,
            "step_count": 0,
        },
        "reward": null,
        "done": false,
    })
}

/// The answer to a step.
pub fn step_response(step: &StepResult, step_count: u64) -> Value {
    json!({
        "observation": {
            "text": step.observation,
            "info": info_object(&step.info),
            "terminated": step.terminated,
            "truncated": step.truncated,
            "won": step.won,
            "action_valid": step.action_valid,
            "action": step.action_echo,
            "step_count": step_count,
        },
        "reward": step.reward,
        "done": step.done(),
    })
}

/// The JSON schemas `/schema` answers (OpenEnv: action, observation, state).
pub fn schemas() -> Value {
    json!({
        "action": {
            "title": "LamerAction",
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "The action text, e.g. `up` or `<action>up</action>`"},
                "metadata": {"type": "object", "description": "Accepted and unused"},
            },
            "required": ["text"],
            "additionalProperties": false,
        },
        "observation": {
            "title": "LamerObservation",
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "What the agent sees"},
                "env": {"type": "string", "description": "Environment name (reset only)"},
                "task": {"type": "object", "properties": {"split": {"type": "string"}, "index": {"type": "integer"}}, "description": "The task played (reset only)"},
                "seed": {"type": ["integer", "null"], "description": "The seed the task was drawn from, if any (reset only)"},
                "info": {"type": "object", "additionalProperties": {"type": "string"}},
                "terminated": {"type": "boolean"},
                "truncated": {"type": "boolean"},
                "won": {"type": "boolean"},
                "action_valid": {"type": "boolean"},
                "action": {"type": ["string", "null"], "description": "The action as it should be echoed in history"},
                "step_count": {"type": "integer"},
            },
            "required": ["text", "info", "terminated", "truncated", "won", "action_valid", "step_count"],
        },
        "state": {
            "title": "LamerState",
            "type": "object",
            "properties": {
                "episode_id": {"type": ["string", "null"]},
                "step_count": {"type": "integer"},
                "session_id": {"type": ["string", "null"]},
                "env": {"type": ["string", "null"]},
                "task": {"type": ["object", "null"]},
                "seed": {"type": ["integer", "null"]},
                "done": {"type": "boolean"},
                "won": {"type": "boolean"},
                "total_reward": {"type": "number"},
            },
            "required": ["step_count"],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_reset_fields_are_refused_not_dropped() {
        let error = parse::<ResetParams>(br#"{"sed": 3}"#).unwrap_err();
        assert_eq!(error.code(), "VALIDATION_ERROR");
        assert!(error.to_string().contains("sed"), "{error}");
    }

    #[test]
    fn malformed_json_is_told_from_a_wrong_shape() {
        let error = parse::<ResetParams>(b"{\"seed\": ").unwrap_err();
        assert_eq!(error.code(), "INVALID_JSON");
    }

    #[test]
    fn actions_come_as_objects_or_plain_strings() {
        let object: StepBody = parse(br#"{"action": {"text": "up", "metadata": {}}}"#).unwrap();
        let plain: StepBody = parse(br#"{"action": "up"}"#).unwrap();
        assert_eq!(object.action.text(), "up");
        assert_eq!(plain.action.text(), "up");
        assert!(parse::<StepBody>(br#"{"action": {"txt": "up"}}"#).is_err());
    }
}
