//! Why the backend cannot be used at all (checked before a run starts), or
//! why one request finally failed.

/// A setup failure of [`crate::OpenAiPolicy::connect`], or the final failure
/// of one request. Each message is one line that says what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OpenAiError {
    #[error("bad --base-url {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot reach {url}: {reason}; is the server running and is --base-url right?")]
    Unreachable { url: String, reason: String },
    #[error(
        "{url} refused the credentials (HTTP {status}): {message}; set the key's variable and \
         pass it with --api-key-env"
    )]
    Auth {
        url: String,
        status: u16,
        message: String,
    },
    #[error(
        "{url} has no API here (HTTP 404); --base-url must be the API root, e.g. \
         http://127.0.0.1:8000/v1"
    )]
    NotAnApi { url: String },
    #[error("the server does not serve the model {model:?} ({message}); it lists: {served}")]
    UnknownModel {
        model: String,
        served: String,
        message: String,
    },
    #[error(
        "the server does not support token-exact mode (/completions with token-id prompts and \
         logprobs, as vLLM and SGLang have): {reason}; use --wire chat"
    )]
    NoTokenExact { reason: String },
    #[error("the server rejects top_k ({message}); pass --omit-top-k")]
    RejectsTopK { message: String },
    #[error("token-exact mode needs the served model's tokenizer (--tokenizer DIR or FILE)")]
    NoTokenizer,
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("HTTP {status} from {url}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url}: the response is not what the API promises: {reason}")]
    Malformed { url: String, reason: String },
    #[error("{last} (gave up after {attempts} attempts)")]
    GaveUp {
        attempts: u32,
        last: Box<OpenAiError>,
    },
}
