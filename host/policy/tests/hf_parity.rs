//! Our models against what Hugging Face `transformers` and PEFT computed for
//! the same weights and token ids (fixtures recorded by
//! `scripts/hf-parity/run.sh` under `tests/fixtures/hf`):
//!
//! - models written by `transformers` (`save_pretrained`) — random Qwen3,
//!   Qwen2 (q/k/v biases) and Llama 3 (`llama3` rope scaling) — and a
//!   PEFT-made adapter load here and give transformers' logits, greedy
//!   continuations and log-probs;
//! - what we write (the tiny model, a full fine-tune, a merged LoRA model, a
//!   LoRA adapter) loaded in transformers/PEFT gave the logits we compute;
//! - our Qwen3 chat rendering equals transformers' `apply_chat_template` on
//!   every environment's prompts, character for character and token for
//!   token.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use lamer_policy::chat::render_chat;
use lamer_policy::parity::{self, REFERENCE_FILE};
use lamer_policy::tokenizer::PolicyTokenizer;
use lamer_policy::{ChatMessage, DType, Role};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf")
}

/// Our exports, written once per test binary (they are deterministic).
fn exports() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        parity::write_exports(dir.path()).unwrap();
        dir
    })
    .path()
}

fn check(case: &str) {
    let dir = fixtures().join(case);
    assert!(
        dir.join(REFERENCE_FILE).is_file(),
        "no fixture {}",
        dir.display()
    );
    let (reference, tensors) = parity::read_case(&dir).unwrap();
    let model = parity::load_case_model(&reference, &dir, exports(), DType::F32).unwrap();
    let report = parity::check_case(&model, &reference, &tensors).unwrap();
    assert!(
        report.passes(reference.tolerance),
        "{case}: {report:?} (tolerance {})",
        reference.tolerance
    );
    // The comparison is not vacuous: logits are O(1) and there is a batch,
    // greedy continuations and samples to compare.
    assert!(report.logit_scale > 0.5, "{report:?}");
    assert!(reference.greedy.iter().all(|g| g.tokens.len() == 32));
    assert!(!reference.samples.is_empty() && !reference.batch.is_empty());
}

#[test]
fn qwen3_saved_by_transformers_gives_transformers_logits() {
    check("qwen3-small");
}

#[test]
fn qwen2_saved_by_transformers_gives_transformers_logits() {
    check("qwen2-small");
}

#[test]
fn llama3_with_rope_scaling_gives_transformers_logits() {
    check("llama3-small");
}

#[test]
fn a_peft_made_adapter_gives_peft_logits() {
    check("qwen3-small-peft");
}

#[test]
fn the_tiny_model_loaded_in_transformers_gives_our_logits() {
    check("tiny");
}

#[test]
fn a_full_fine_tune_we_write_loads_in_transformers() {
    check("tiny-full");
}

#[test]
fn a_merged_lora_model_we_write_loads_in_transformers() {
    check("tiny-merged");
}

#[test]
fn an_adapter_we_write_loads_in_peft() {
    check("tiny-peft");
}

#[test]
fn a_wrong_model_fails_the_check() {
    // The Qwen3 fixture against the Qwen2 weights: the checker must notice.
    let (reference, tensors) = parity::read_case(&fixtures().join("qwen3-small")).unwrap();
    let other = fixtures().join("qwen2-small");
    let (other_ref, _) = parity::read_case(&other).unwrap();
    let model = parity::load_case_model(&other_ref, &other, exports(), DType::F32).unwrap();
    let report = parity::check_case(&model, &reference, &tensors).unwrap();
    assert!(!report.passes(reference.tolerance), "{report:?}");
}

#[derive(serde::Deserialize)]
struct ChatFixture {
    cases: Vec<ChatCase>,
}

#[derive(serde::Deserialize)]
struct ChatCase {
    env: String,
    attempt: u32,
    reflect: bool,
    messages: Vec<Message>,
    text: String,
    ids: Vec<u32>,
}

#[derive(serde::Deserialize)]
struct Message {
    role: String,
    content: String,
}

#[test]
fn chat_rendering_equals_the_qwen3_jinja_template_on_every_environment() {
    let path = fixtures().join("chat/prompts.json");
    let fixture: ChatFixture =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let tokenizer =
        PolicyTokenizer::from_file(&exports().join("tiny").join("tokenizer.json")).unwrap();
    let envs: std::collections::BTreeSet<&str> =
        fixture.cases.iter().map(|c| c.env.as_str()).collect();
    assert!(envs.len() >= 5, "{envs:?}");
    assert!(fixture.cases.iter().any(|c| c.reflect && c.attempt == 3));
    for case in &fixture.cases {
        let messages: Vec<ChatMessage> = case
            .messages
            .iter()
            .map(|m| ChatMessage {
                role: match m.role.as_str() {
                    "system" => Role::System,
                    "assistant" => Role::Assistant,
                    _ => Role::User,
                },
                content: m.content.clone(),
            })
            .collect();
        let text = render_chat(&messages);
        let what = format!(
            "{} attempt {} reflect {}",
            case.env, case.attempt, case.reflect
        );
        assert_eq!(text, case.text, "{what}: text");
        assert_eq!(tokenizer.encode(&text).unwrap(), case.ids, "{what}: ids");
    }
}

#[test]
fn the_tiny_directory_ships_the_qwen3_chat_template() {
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(exports().join("tiny/tokenizer_config.json")).unwrap(),
    )
    .unwrap();
    let template = config["chat_template"].as_str().unwrap();
    assert_eq!(template, lamer_policy::tiny::QWEN3_CHAT_TEMPLATE);
    assert!(template.contains("enable_thinking is defined and enable_thinking is false"));
    assert_eq!(config["eos_token"], "<|im_end|>");
}
