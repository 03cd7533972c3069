//! The built-in **tiny** model: a small Qwen3 with a tokenizer this project
//! trains itself, so every command works on a fresh CPU-only machine with no
//! network and no downloaded weights.
//!
//! [`materialize`] writes an ordinary Hugging Face model directory
//! (`config.json`, `tokenizer.json`, `tokenizer_config.json` with Qwen3's
//! Jinja chat template, `model.safetensors`) that `transformers`, PEFT and
//! vLLM load as they are:
//! - the tokenizer is a byte-level BPE trained (deterministically) on an
//!   embedded corpus: English about playing games, plus the kinds of strings
//!   LaMer's environments print (grids, coordinates, `<action>` tags,
//!   `click[...]`), with Qwen's chat special tokens;
//! - the weights are drawn from a fixed seed, so every machine gets the same
//!   bytes. The model is untrained: its text is noise, but every code path
//!   (templates, batching, log-probs, training) runs for real.
//!
//! The directory is cached under `~/.cache/lamer/models/tiny-<version>`
//! (`$LAMER_CACHE_DIR` or `$XDG_CACHE_HOME/lamer` override the root) and
//! reused; it is built in a temporary sibling and renamed into place, so
//! concurrent first uses are safe.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use lamer_sdk::SeededRng;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer, TokenizerBuilder};

use crate::PolicyError;
use crate::chat::{END_OF_TEXT, IM_END, IM_START, THINK_END, THINK_START};
use crate::config::Qwen3Config;
use crate::error::Result;
use crate::loading::{CONFIG_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use crate::model::expected_tensors;

/// Bump when the corpus, tokenizer settings, config or initialisation change.
pub const TINY_VERSION: &str = "v1";
/// The BPE vocabulary target (special tokens included).
const TINY_VOCAB: usize = 2048;
const CORPUS_SEED: u64 = 0x7a11_c0de;
const WEIGHT_SEED: u64 = 0x5eed_0001;

/// The tiny architecture for a tokenizer of `tokenizer_vocab` tokens.
pub fn tiny_config(tokenizer_vocab: usize) -> Qwen3Config {
    Qwen3Config {
        architectures: vec!["Qwen3ForCausalLM".into()],
        model_type: "qwen3".into(),
        // Rounded up, as real checkpoints pad their embedding matrices.
        vocab_size: tokenizer_vocab.div_ceil(64) * 64,
        hidden_size: 64,
        intermediate_size: 192,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: Some(16),
        max_position_embeddings: 4096,
        rope_theta: 1_000_000.0,
        rope_scaling: None,
        rope_parameters: None,
        rms_norm_eps: 1e-6,
        tie_word_embeddings: true,
        attention_bias: false,
        mlp_bias: false,
        use_sliding_window: false,
        hidden_act: "silu".into(),
        bos_token_id: None,
        eos_token_id: None,
        torch_dtype: Some("float32".into()),
    }
}

const ENGLISH: &[&str] = &[
    "You are an expert agent operating in the Sokoban environment.",
    "You are an expert agent playing the game of MineSweeper on a small board.",
    "You are an expert agent shopping on a web store for the product the user wants.",
    "You are an expert agent acting in a household: find objects and put them in place.",
    "Your goal is to push every box onto a target without getting stuck in a corner.",
    "Reveal every cell that does not hide a mine; a number counts the mines around it.",
    "The initial state of the game is shown below, followed by your previous attempts.",
    "Currently you're on trial #2, starting from the initial state.",
    "Currently you're on trial #3. You have already taken the following actions:",
    "Now it's your turn to make moves (choose the next THREE actions).",
    "First reason step by step about the board, then write your actions inside the tags.",
    "The last attempt failed because I pushed the box against the wall too early.",
    "Next time I will explore the left side first and keep the box away from corners.",
    "I clicked a cell next to a two, which was a mine; I should use the flags of the row.",
    "The search results did not match the price limit, so I will refine the query.",
    "I looked in the drawer and the cabinet but the mug was on the countertop.",
    "Reflect on the previous trial and write a short plan inside remark tags.",
    "The player cannot pull boxes and cannot walk through walls.",
    "Valid actions are up, down, left and right; invalid output wastes a turn.",
    "The answer must contain exactly one action tag, and the action must be admissible.",
    "You won the game! All boxes are on their targets.",
    "You lost the game: you revealed a mine.",
    "Instruction: i need a pair of blue running shoes, size 9, price lower than 50 dollars.",
    "Your task is to: put a clean mug in the coffee machine.",
    "Nothing happens. You arrive at the kitchen. On the counter you see a knife and a mug.",
    "The quick brown fox jumps over the lazy dog while the agent thinks carefully.",
    "Exploration early and exploitation later: use what you learned in earlier attempts.",
    "Let me think: the box is at row 3, column 2, and the target is two cells to the right.",
    "Therefore the best move is to go around the box and push it to the right.",
    "Observation: the door is locked. Admissible actions: go north, take key, open door.",
];

const WORDS: &[&str] = &[
    "up",
    "down",
    "left",
    "right",
    "box",
    "target",
    "wall",
    "player",
    "mine",
    "flag",
    "cell",
    "row",
    "column",
    "search",
    "click",
    "buy",
    "now",
    "next",
    "back",
    "shoes",
    "shirt",
    "mug",
    "drawer",
    "cabinet",
    "fridge",
    "countertop",
    "sink",
    "go",
    "to",
    "take",
    "from",
    "put",
    "in",
    "on",
    "open",
    "close",
    "clean",
    "heat",
    "cool",
    "examine",
    "look",
    "inventory",
    "key",
    "door",
    "red",
    "blue",
    "green",
    "small",
    "large",
    "size",
    "price",
    "color",
    "dollars",
];

/// The tokenizer's training text: fixed English plus generated environment
/// strings (all from a fixed seed).
pub fn corpus() -> Vec<String> {
    let mut rng = SeededRng::new(CORPUS_SEED);
    let mut lines: Vec<String> = ENGLISH.iter().map(|s| s.to_string()).collect();
    let word = |rng: &mut SeededRng| WORDS[rng.index(WORDS.len())];
    for _ in 0..150 {
        // A Sokoban board row and its legend.
        let cells = ["#", "_", "O", "√", "X", "P", "S"];
        let row: Vec<&str> = (0..7).map(|_| cells[rng.index(cells.len())]).collect();
        lines.push(row.join(" "));
        lines.push(row.join(""));
        // A MineSweeper row.
        let mine = ["?", "?", "?", ".", "1", "2", "3", "F"];
        let r = rng.range_inclusive(1, 8);
        let row: Vec<&str> = (0..8).map(|_| mine[rng.index(mine.len())]).collect();
        lines.push(format!("Row {r}: {}", row.join(" ")));
        let (a, b) = (rng.range_inclusive(1, 9), rng.range_inclusive(1, 9));
        lines.push(format!("<action>({a}, {b})</action>"));
        // Sokoban moves.
        let dirs = ["up", "down", "left", "right"];
        let moves: Vec<&str> = (0..3).map(|_| dirs[rng.index(4)]).collect();
        lines.push(format!("<action>{}</action>", moves.join(", ")));
        // WebShop and ALFWorld actions.
        let q = format!("{} {} {}", word(&mut rng), word(&mut rng), word(&mut rng));
        lines.push(format!("<action>search[{q}]</action>"));
        lines.push(format!(
            "click[{}] click[b0{}{}]",
            word(&mut rng),
            rng.below(90) + 10,
            rng.below(900)
        ));
        lines.push(format!(
            "<action>{} {} {} {}</action>",
            word(&mut rng),
            word(&mut rng),
            word(&mut rng),
            rng.below(5) + 1
        ));
        lines.push(format!(
            "<remark>I should {} the {} {} and then {} {}.</remark>",
            word(&mut rng),
            word(&mut rng),
            word(&mut rng),
            word(&mut rng),
            word(&mut rng)
        ));
        lines.push(format!(
            "{IM_START}user\n{}{IM_END}\n{IM_START}assistant\n{THINK_START}\n\n{THINK_END}\n\n",
            ENGLISH[rng.index(ENGLISH.len())]
        ));
    }
    lines
}

/// Trains the tiny tokenizer from [`corpus`] (deterministic).
pub fn train_tokenizer() -> Result<Tokenizer> {
    let fail = |e: tokenizers::Error| PolicyError::Tokenizer(format!("training: {e}"));
    let specials: Vec<AddedToken> = [END_OF_TEXT, IM_START, IM_END, THINK_START, THINK_END]
        .into_iter()
        .map(|t| AddedToken::from(t, true))
        .collect();
    let mut trainer = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(TINY_VOCAB)
        .min_frequency(2)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut tokenizer = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(Some(NFC))
        .with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)))
        .with_post_processor(Some(ByteLevel::default()))
        .with_decoder(Some(ByteLevel::default()))
        .build()
        .map_err(fail)?;
    tokenizer
        .train(&mut trainer, corpus().into_iter())
        .map_err(fail)?;
    Ok(tokenizer.into())
}

/// Deterministic random weights for `config` (norm weights are ones).
pub fn random_weights(config: &Qwen3Config, seed: u64) -> Result<HashMap<String, Tensor>> {
    let mut rng = SeededRng::new(seed);
    let mut out = HashMap::new();
    for (name, shape) in expected_tensors(config) {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = if name.ends_with("norm.weight") {
            vec![1.0; n]
        } else {
            // Uniform with standard deviation 0.02 (the usual init scale).
            let bound = 0.02 * 3f64.sqrt();
            (0..n)
                .map(|_| ((rng.unit() * 2.0 - 1.0) * bound) as f32)
                .collect()
        };
        out.insert(name, Tensor::from_vec(data, shape, &Device::Cpu)?);
    }
    Ok(out)
}

/// Qwen3's Jinja chat template, as its `tokenizer_config.json` ships it;
/// [`crate::chat::render_chat`] renders the same text (thinking off).
pub const QWEN3_CHAT_TEMPLATE: &str = include_str!("../templates/qwen3_chat_template.jinja");

/// The `tokenizer_config.json` of a Qwen chat tokenizer: the chat template
/// and the special tokens, so Hugging Face tools load the directory's
/// `tokenizer.json` with the right stop and pad tokens.
pub fn tokenizer_config_json(model_max_length: usize) -> serde_json::Value {
    serde_json::json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": QWEN3_CHAT_TEMPLATE,
        "eos_token": IM_END,
        "pad_token": END_OF_TEXT,
        "bos_token": null,
        "unk_token": null,
        "add_bos_token": false,
        "add_eos_token": false,
        "clean_up_tokenization_spaces": false,
        "split_special_tokens": false,
        "model_max_length": model_max_length,
    })
}

/// Writes `tokenizer_config.json` into `dir` (atomically: a sibling
/// temporary file renamed into place).
fn write_tokenizer_config(dir: &Path, model_max_length: usize) -> Result<()> {
    let text = serde_json::to_string_pretty(&tokenizer_config_json(model_max_length))
        .map_err(|e| PolicyError::Model(format!("cannot serialise tokenizer config: {e}")))?;
    let path = dir.join(TOKENIZER_CONFIG_FILE);
    let staging = dir.join(format!(
        ".{TOKENIZER_CONFIG_FILE}.tmp-{}",
        std::process::id()
    ));
    std::fs::write(&staging, text).map_err(PolicyError::io(&staging))?;
    std::fs::rename(&staging, &path).map_err(PolicyError::io(&path))
}

/// Writes a Hugging Face model directory for `config` with `weights` and
/// `tokenizer` into `dir`.
pub fn write_model_dir(
    dir: &Path,
    config: &Qwen3Config,
    tokenizer: &Tokenizer,
    weights: &HashMap<String, Tensor>,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(PolicyError::io(dir))?;
    let json = serde_json::to_string_pretty(config)
        .map_err(|e| PolicyError::Model(format!("cannot serialise config: {e}")))?;
    let path = dir.join(CONFIG_FILE);
    std::fs::write(&path, json).map_err(PolicyError::io(&path))?;
    tokenizer
        .save(dir.join(TOKENIZER_FILE), false)
        .map_err(|e| PolicyError::Tokenizer(format!("saving: {e}")))?;
    write_tokenizer_config(dir, config.max_position_embeddings)?;
    candle_core::safetensors::save(weights, dir.join(WEIGHTS_FILE))?;
    Ok(())
}

/// The cache root: `$LAMER_CACHE_DIR`, `$XDG_CACHE_HOME/lamer` or
/// `~/.cache/lamer`.
pub fn cache_root() -> Result<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("LAMER_CACHE_DIR") {
        return Ok(dir);
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return Ok(dir.join("lamer"));
    }
    var("HOME")
        .map(|h| h.join(".cache").join("lamer"))
        .ok_or_else(|| PolicyError::Model("no cache directory: set LAMER_CACHE_DIR or HOME".into()))
}

/// Materialises the tiny model at its default cache location.
pub fn materialize_default() -> Result<PathBuf> {
    let dir = cache_root()?
        .join("models")
        .join(format!("tiny-{TINY_VERSION}"));
    materialize(&dir)?;
    Ok(dir)
}

/// Writes the tiny model directory at `dir` unless it is already complete;
/// returns `dir`.
pub fn materialize(dir: &Path) -> Result<PathBuf> {
    let complete = [CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE]
        .iter()
        .all(|f| dir.join(f).is_file());
    if complete {
        // Caches written before the chat template shipped gain it in place.
        if !dir.join(TOKENIZER_CONFIG_FILE).is_file() {
            let text = std::fs::read_to_string(dir.join(CONFIG_FILE))
                .map_err(PolicyError::io(dir.join(CONFIG_FILE)))?;
            let config = Qwen3Config::from_json(&text)?;
            write_tokenizer_config(dir, config.max_position_embeddings)?;
        }
        return Ok(dir.to_path_buf());
    }
    let tokenizer = train_tokenizer()?;
    let config = tiny_config(tokenizer.get_vocab_size(true));
    let weights = random_weights(&config, WEIGHT_SEED)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tiny".into());
    let staging = dir.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    write_model_dir(&staging, &config, &tokenizer, &weights)?;
    match std::fs::rename(&staging, dir) {
        Ok(()) => {}
        // Another process finished first: keep its copy.
        Err(_) if dir.join(WEIGHTS_FILE).is_file() => {
            let _ = std::fs::remove_dir_all(&staging);
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(PolicyError::Io {
                path: dir.to_path_buf(),
                source: e,
            });
        }
    }
    Ok(dir.to_path_buf())
}
