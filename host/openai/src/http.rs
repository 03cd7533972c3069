//! One HTTP exchange with a deadline, what its failure means, and the retry
//! loop around it.
//!
//! A failure is either worth retrying (429, 5xx, 408, a refused or reset
//! connection, a deadline passed, a truncated or unreadable body) or final
//! (any other 4xx, a bad URL, TLS). Retries back off exponentially; a 429's
//! `Retry-After` is honoured up to the backoff cap.

use std::time::Duration;

use serde_json::Value;

use crate::config::OpenAiConfig;
use crate::error::OpenAiError;
use crate::wire::error_message;

/// The largest body read; a chat answer is a few KiB.
const BODY_LIMIT: u64 = 64 << 20;

/// Why one attempt failed, and whether another may succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Try again, after at least this long if the server said so.
    Retry(OpenAiError, Option<Duration>),
    Final(OpenAiError),
}

/// A configured client for one API root.
pub(crate) struct Http {
    agent: ureq::Agent,
    root: String,
    api_key: Option<String>,
    timeout: Duration,
}

impl Http {
    pub(crate) fn new(config: &OpenAiConfig) -> Self {
        let agent_config = ureq::Agent::config_builder()
            .timeout_global(Some(config.request_timeout))
            .http_status_as_error(false)
            .max_idle_connections_per_host(config.max_concurrency.max(1))
            .build();
        Http {
            agent: ureq::Agent::new_with_config(agent_config),
            root: config.api_root(),
            api_key: config.api_key.clone(),
            timeout: config.request_timeout,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.root)
    }

    /// `GET root+path`, the body of a 2xx answer.
    pub(crate) fn get(&self, path: &str) -> Result<String, Failure> {
        let url = self.url(path);
        let mut request = self.agent.get(&url);
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        self.finish(&url, request.call())
    }

    /// `POST root+path` with a JSON body, the body of a 2xx answer.
    pub(crate) fn post(&self, path: &str, body: &Value) -> Result<String, Failure> {
        let url = self.url(path);
        let mut request = self.agent.post(&url).content_type("application/json");
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        self.finish(&url, request.send(body.to_string()))
    }

    fn finish(
        &self,
        url: &str,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, Failure> {
        let mut response = sent.map_err(|e| self.transport(url, e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_string()
            .map_err(|e| self.transport(url, e))?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let message = error_message(&body);
        let url = url.to_string();
        Err(match status {
            401 | 403 => Failure::Final(OpenAiError::Auth {
                url,
                status,
                message,
            }),
            408 | 429 | 500..=599 => Failure::Retry(
                OpenAiError::Status {
                    url,
                    status,
                    message,
                },
                retry_after,
            ),
            _ => Failure::Final(OpenAiError::Status {
                url,
                status,
                message,
            }),
        })
    }

    fn transport(&self, url: &str, error: ureq::Error) -> Failure {
        let url = url.to_string();
        match error {
            ureq::Error::BadUri(reason) => Failure::Final(OpenAiError::BadUrl { url, reason }),
            ureq::Error::HostNotFound => Failure::Final(OpenAiError::Unreachable {
                url,
                reason: "host not found".into(),
            }),
            ureq::Error::Timeout(_) => Failure::Retry(
                OpenAiError::Transport {
                    url,
                    reason: format!("no complete answer within {:?}", self.timeout),
                },
                None,
            ),
            e @ (ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
            | ureq::Error::BodyExceedsLimit(_)) => Failure::Retry(
                OpenAiError::Transport {
                    url,
                    reason: one_line(&e.to_string()),
                },
                None,
            ),
            other => Failure::Final(OpenAiError::Transport {
                url,
                reason: one_line(&other.to_string()),
            }),
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs `attempt` until it succeeds, fails for good, or the retries are
/// spent; the value and the number of retries it took.
pub(crate) fn with_retries<T>(
    config: &OpenAiConfig,
    retries: u32,
    mut attempt: impl FnMut() -> Result<T, Failure>,
) -> Result<(T, u32), (OpenAiError, u32)> {
    let mut tried = 0u32;
    loop {
        match attempt() {
            Ok(value) => return Ok((value, tried)),
            Err(Failure::Final(error)) => return Err((error, tried)),
            Err(Failure::Retry(error, _)) if tried >= retries => {
                let error = if tried == 0 {
                    error
                } else {
                    OpenAiError::GaveUp {
                        attempts: tried + 1,
                        last: Box::new(error),
                    }
                };
                return Err((error, tried));
            }
            Err(Failure::Retry(_, after)) => {
                let backoff = config.backoff(tried);
                let wait = after.map_or(backoff, |a| a.min(config.max_backoff).max(backoff));
                std::thread::sleep(wait);
                tried += 1;
            }
        }
    }
}
