//! [`OpenAiPolicy`]: the checks before a run, and a batch answered by a
//! bounded pool of threads.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use lamer_policy::chat::render_chat;
use lamer_policy::{
    PartialBatch, Policy, PolicyError, PolicyRequest, PolicyResponse, PolicyUsage, SamplingParams,
};

use crate::config::{OpenAiConfig, WireMode};
use crate::error::OpenAiError;
use crate::http::{Failure, Http, with_retries};
use crate::wire::{self, Answer};

/// One request's outcome and the retries it took.
type Attempted = Result<(Answer, u32), (OpenAiError, u32)>;

/// A policy answered by an OpenAI-compatible server.
pub struct OpenAiPolicy {
    config: OpenAiConfig,
    http: Http,
    stop_tokens: Vec<u32>,
    usage: Mutex<PolicyUsage>,
}

impl OpenAiPolicy {
    /// Checks that the server is there, takes the key, serves the model and
    /// (token-exact) takes token-id prompts with logprobs, then returns the
    /// policy. Each failure is one line saying what to fix.
    pub fn connect(mut config: OpenAiConfig) -> Result<Self, OpenAiError> {
        config.max_concurrency = config.max_concurrency.max(1);
        let stop_tokens = match (config.mode, &config.tokenizer) {
            (WireMode::TokenExact, None) => return Err(OpenAiError::NoTokenizer),
            (_, Some(t)) => t.stop_tokens().to_vec(),
            (WireMode::Chat, None) => Vec::new(),
        };
        let policy = OpenAiPolicy {
            http: Http::new(&config),
            config,
            stop_tokens,
            usage: Mutex::new(PolicyUsage::default()),
        };
        let served = policy.served_models()?;
        policy.probe(&served)?;
        Ok(policy)
    }

    /// `GET /models`, once: a dead URL or a refused key shows at once. Some
    /// servers list nothing useful there (`transformers serve` lists its
    /// cache), so the model name is judged by the probe.
    fn served_models(&self) -> Result<Vec<String>, OpenAiError> {
        let url = self.http.url("/models");
        match with_retries(&self.config, 0, || self.http.get("/models")) {
            Ok((body, _)) => Ok(wire::parse_models(&body).unwrap_or_default()),
            Err((OpenAiError::Status { status: 404, .. }, _)) => Err(OpenAiError::NotAnApi { url }),
            Err((OpenAiError::Transport { reason, .. }, _)) => {
                Err(OpenAiError::Unreachable { url, reason })
            }
            Err((error, _)) => Err(error),
        }
    }

    /// One request of one token, with the run's mode and fields.
    fn probe(&self, served: &[String]) -> Result<(), OpenAiError> {
        let request = PolicyRequest {
            messages: vec![lamer_policy::ChatMessage::user("Say OK.")],
            kind: lamer_policy::RequestKind::Act,
            seed: 0,
            admissible_actions: Vec::new(),
            expert_action: None,
        };
        // The test settings send top_k, as the run will.
        let sampling = SamplingParams::evaluation(1);
        match self.answer(&request, &sampling) {
            Ok(_) => Ok(()),
            Err((error, _)) => Err(self.explain_probe_failure(error, served)),
        }
    }

    /// Turns a failed probe into the setup error that says what to fix.
    fn explain_probe_failure(&self, error: OpenAiError, served: &[String]) -> OpenAiError {
        let known = served.is_empty() || served.contains(&self.config.model);
        let token_exact = self.config.mode == WireMode::TokenExact;
        match error {
            OpenAiError::Status {
                message, status, ..
            } if (400..500).contains(&status) => {
                if !known {
                    OpenAiError::UnknownModel {
                        model: self.config.model.clone(),
                        served: served.join(", "),
                        message,
                    }
                } else if token_exact {
                    // The server's message names what it rejected: the
                    // token-id prompt or the extension fields.
                    OpenAiError::NoTokenExact {
                        reason: format!("HTTP {status}: {message}"),
                    }
                } else if self.config.send_top_k && message.contains("top_k") {
                    OpenAiError::RejectsTopK { message }
                } else {
                    OpenAiError::Status {
                        url: self.http.url("/chat/completions"),
                        status,
                        message,
                    }
                }
            }
            OpenAiError::Malformed { reason, .. } if token_exact => {
                OpenAiError::NoTokenExact { reason }
            }
            // Token-exact answers without ids or log-probs stay malformed
            // however often they are retried.
            OpenAiError::GaveUp { last, attempts } if token_exact => match *last {
                OpenAiError::Malformed { reason, .. } => OpenAiError::NoTokenExact { reason },
                last => OpenAiError::GaveUp {
                    attempts,
                    last: Box::new(last),
                },
            },
            other => other,
        }
    }

    /// The prompt ids of a request in token-exact mode.
    fn prompt_ids(&self, request: &PolicyRequest) -> Result<Vec<u32>, OpenAiError> {
        let tokenizer = self
            .config
            .tokenizer
            .as_ref()
            .ok_or(OpenAiError::NoTokenizer)?;
        tokenizer
            .encode(&render_chat(&request.messages))
            .map_err(|e| OpenAiError::Tokenizer(e.to_string()))
    }

    /// One request through to its answer, with retries; the answer or the
    /// final error, and the retries spent.
    fn answer(&self, request: &PolicyRequest, sampling: &SamplingParams) -> Attempted {
        let malformed = |url: String| {
            move |reason: String| Failure::Retry(OpenAiError::Malformed { url, reason }, None)
        };
        match self.config.mode {
            WireMode::Chat => {
                let body = wire::chat_body(&self.config, request, sampling);
                let url = self.http.url("/chat/completions");
                with_retries(&self.config, self.config.retries, || {
                    let text = self.http.post("/chat/completions", &body)?;
                    wire::parse_chat(&text).map_err(malformed(url.clone()))
                })
            }
            WireMode::TokenExact => {
                let ids = self.prompt_ids(request).map_err(|e| (e, 0))?;
                let body = wire::completion_body(
                    &self.config,
                    &ids,
                    &self.stop_tokens,
                    request.seed,
                    sampling,
                );
                let url = self.http.url("/completions");
                with_retries(&self.config, self.config.retries, || {
                    let text = self.http.post("/completions", &body)?;
                    wire::parse_completion(&text, ids.clone(), &self.stop_tokens)
                        .map_err(malformed(url.clone()))
                })
            }
        }
    }

    /// Answers `requests` with at most `max_concurrency` in flight; one
    /// result per request, in order.
    fn answer_all(&self, requests: &[PolicyRequest], sampling: &SamplingParams) -> Vec<Attempted> {
        let slots: Vec<Mutex<Option<_>>> = requests.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let workers = self.config.max_concurrency.min(requests.len());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(request) = requests.get(i) else {
                            break;
                        };
                        let result = self.answer(request, sampling);
                        *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
                    }
                });
            }
        });
        slots
            .into_iter()
            .map(|slot| {
                slot.into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    // Unreachable: the scope joins every worker, and a
                    // worker fills each slot it takes before taking another.
                    .unwrap_or_else(|| {
                        let reason = "no worker answered this request".to_string();
                        Err((
                            OpenAiError::Transport {
                                url: String::new(),
                                reason,
                            },
                            0,
                        ))
                    })
            })
            .collect()
    }

    fn count(&self, results: &[Attempted]) {
        let mut usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        for result in results {
            usage.requests += 1;
            match result {
                Ok((answer, retries)) => {
                    usage.retries += u64::from(*retries);
                    let r = &answer.response;
                    usage.prompt_tokens +=
                        answer.prompt_tokens.unwrap_or(r.prompt_ids.len() as u64);
                    let generated = r.response_ids.len() + usize::from(r.stop_token.is_some());
                    usage.completion_tokens += answer.completion_tokens.unwrap_or(generated as u64);
                }
                Err((_, retries)) => {
                    usage.retries += u64::from(*retries);
                    usage.failed_requests += 1;
                }
            }
        }
    }
}

impl Policy for OpenAiPolicy {
    fn name(&self) -> String {
        format!("openai-{}:{}", self.config.mode.as_str(), self.config.model)
    }

    fn usage(&self) -> Option<PolicyUsage> {
        Some(*self.usage.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn generate(
        &mut self,
        requests: &[PolicyRequest],
        sampling: &SamplingParams,
    ) -> Result<Vec<PolicyResponse>, PolicyError> {
        for (index, request) in requests.iter().enumerate() {
            if request.messages.iter().all(|m| m.content.trim().is_empty()) {
                return Err(PolicyError::EmptyPrompt { index });
            }
        }
        let results = self.answer_all(requests, sampling);
        self.count(&results);
        let answers: Vec<Result<PolicyResponse, String>> = results
            .into_iter()
            .map(|r| r.map(|(a, _)| a.response).map_err(|(e, _)| e.to_string()))
            .collect();
        if answers.iter().all(Result::is_ok) {
            Ok(answers.into_iter().flatten().collect())
        } else {
            Err(PolicyError::PartialBatch(Box::new(PartialBatch {
                answers,
            })))
        }
    }
}
