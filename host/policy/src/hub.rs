//! Downloading a model from the Hugging Face hub (feature `hub`).
//!
//! The hub client reads `HF_HOME` (the cache) and `HF_ENDPOINT` (a mirror)
//! as `huggingface_hub` does. Offline, the first request fails and the
//! error names the hub id and the cause; nothing is left half-written (the
//! cache only keeps completed files).

use std::path::PathBuf;

use crate::PolicyError;
use crate::error::Result;
use crate::loading::{
    CONFIG_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE, WEIGHTS_INDEX_FILE,
};

/// Fetches `config.json`, `tokenizer.json` and the weights of `repo_id` into
/// the hub cache and returns the snapshot directory.
pub fn download(repo_id: &str) -> Result<PathBuf> {
    download_from(hf_hub::api::sync::ApiBuilder::from_env(), repo_id)
}

/// [`download`] through an explicitly configured client (another endpoint
/// or cache).
pub fn download_from(builder: hf_hub::api::sync::ApiBuilder, repo_id: &str) -> Result<PathBuf> {
    let fail = |e: hf_hub::api::sync::ApiError| PolicyError::Model(format!("hub {repo_id}: {e}"));
    let api = builder.with_progress(false).build().map_err(fail)?;
    let repo = api.model(repo_id.to_string());
    let config = repo.get(CONFIG_FILE).map_err(fail)?;
    repo.get(TOKENIZER_FILE).map_err(fail)?;
    // Optional: the chat template and special tokens (older repositories
    // keep the template in tokenizer_config.json, newer ones in a file).
    for optional in [
        TOKENIZER_CONFIG_FILE,
        "chat_template.jinja",
        "generation_config.json",
    ] {
        let _ = repo.get(optional);
    }
    if repo.get(WEIGHTS_FILE).is_err() {
        let index = repo.get(WEIGHTS_INDEX_FILE).map_err(fail)?;
        let text = std::fs::read_to_string(&index).map_err(PolicyError::io(&index))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| PolicyError::Model(format!("{}: {e}", index.display())))?;
        let mut shards: Vec<String> = json["weight_map"]
            .as_object()
            .map(|m| {
                m.values()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        shards.sort();
        shards.dedup();
        for shard in shards {
            repo.get(&shard).map_err(fail)?;
        }
    }
    config
        .parent()
        .map(PathBuf::from)
        .ok_or_else(|| PolicyError::Model(format!("hub {repo_id}: odd cache path")))
}
