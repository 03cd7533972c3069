//! `--model` resolution: Hugging Face directories, our run, checkpoint and
//! adapter directories, hub ids, and the error that lists what was tried.

use std::path::Path;

use lamer_policy::tiny;
use lamer_policy::{
    DType, Device, LlmPolicy, LoraConfig, ModelSource, PolicyError, TrainMode, TrainableParams,
};

fn tiny_dir(root: &Path) -> std::path::PathBuf {
    tiny::materialize(&root.join("tiny")).unwrap()
}

fn last_logits(policy: &LlmPolicy) -> Vec<f32> {
    use lamer_policy::model::{Pass, causal_padding_mask};
    let ids = [1u32, 5, 9, 30, 2];
    let d = &Device::Cpu;
    let input = candle_core::Tensor::new(&ids[..], d)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let pos = candle_core::Tensor::new(&[0u32, 1, 2, 3, 4][..], d)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let mask = causal_padding_mask(&[vec![1; 5]], d).unwrap();
    let model = policy.model();
    let h = model
        .forward_hidden(&input, &pos, &mask, None, Pass::Inference)
        .unwrap();
    model
        .logits(&h)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn load(spec: &str) -> Result<LlmPolicy, PolicyError> {
    LlmPolicy::from_source(&ModelSource::parse(Some(spec)), &Device::Cpu, DType::F32)
}

/// A checkpoint directory the way the trainer lays one out.
fn write_checkpoint(run: &Path, base: &Path, mode: TrainMode) -> Vec<f32> {
    let mut policy = LlmPolicy::load(base, &Device::Cpu, DType::F32).unwrap();
    let params = TrainableParams::new(policy.model_mut(), mode, 7).unwrap();
    for (name, var) in params.named_vars() {
        // Move every trainable value so the checkpoint differs from the base.
        if !name.contains("lora_A") {
            let bumped = (var.as_tensor() + 0.01).unwrap();
            var.set(&bumped).unwrap();
        }
    }
    let ckpt = run.join("checkpoints").join("step-000002");
    params.save(&ckpt.join("policy")).unwrap();
    let state = serde_json::json!({"step": 2, "seed": 1, "algo": "lamer", "scale": "tiny",
        "model": base.display().to_string(), "optimizer_steps": 2});
    std::fs::write(ckpt.join("state.json"), state.to_string()).unwrap();
    std::fs::write(run.join("checkpoints").join("latest"), "step-000002").unwrap();
    lamer_policy::lora::merge_lora(policy.model_mut()).unwrap();
    last_logits(&policy)
}

#[test]
fn a_run_or_checkpoint_directory_resolves_to_the_model_inside() {
    let root = tempfile::tempdir().unwrap();
    let base = tiny_dir(root.path());
    let base_logits = last_logits(&load(base.to_str().unwrap()).unwrap());
    for (name, mode) in [
        ("full", TrainMode::Full),
        (
            "lora",
            TrainMode::Lora(LoraConfig {
                rank: 2,
                ..LoraConfig::default()
            }),
        ),
    ] {
        let run = root.path().join(name);
        let trained = write_checkpoint(&run, &base, mode);
        assert_ne!(
            trained, base_logits,
            "{name}: the checkpoint must change the model"
        );
        for spec in [run.clone(), run.join("checkpoints/step-000002")] {
            let got = last_logits(&load(spec.to_str().unwrap()).unwrap());
            let worst = got
                .iter()
                .zip(&trained)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-4, "{name} {}: {worst}", spec.display());
        }
    }
    // A run directory with an exported model uses it.
    let run = root.path().join("exported");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::rename(&base, run.join("model")).unwrap();
    let resolved = ModelSource::parse(Some(run.to_str().unwrap()))
        .locate()
        .unwrap();
    assert_eq!(resolved.dir, run.join("model"));
}

#[test]
fn a_missing_path_says_what_was_tried() {
    let root = tempfile::tempdir().unwrap();
    // A relative path with one slash that does not exist is a hub id…
    let spec = "nobody-here/no-model";
    assert_eq!(
        ModelSource::parse(Some(spec)),
        ModelSource::Hub(spec.into())
    );
    // …which, without the hub feature, fails naming both readings (with it,
    // resolving would go to the network: see a_hub_id_fails_cleanly_offline).
    if cfg!(not(feature = "hub")) {
        let err = ModelSource::parse(Some(spec)).resolve().unwrap_err();
        let line = err.to_string();
        assert!(matches!(err, PolicyError::ModelNotFound { .. }), "{line}");
        assert!(
            line.contains("a local directory") && line.contains("a hub id"),
            "{line}"
        );
    }
    // …an absolute one is a path, reported as such.
    let missing = root.path().join("runs/none");
    let line = ModelSource::parse(Some(missing.to_str().unwrap()))
        .resolve()
        .unwrap_err()
        .to_string();
    assert!(line.contains("no such directory"), "{line}");
    assert!(!line.contains('\n'), "{line}");
    // An existing directory that is none of the kinds lists all of them.
    let line = ModelSource::parse(Some(root.path().to_str().unwrap()))
        .resolve()
        .unwrap_err()
        .to_string();
    for kind in [
        "Hugging Face model directory",
        "run directory",
        "checkpoint directory",
        "PEFT adapter",
    ] {
        assert!(line.contains(kind), "{line}");
    }
}

/// Offline (here: an endpoint nothing listens on), a hub id fails with one
/// line naming the id, not a panic or a hang.
#[cfg(feature = "hub")]
#[test]
fn a_hub_id_fails_cleanly_offline() {
    let cache = tempfile::tempdir().unwrap();
    let builder = hf_hub::api::sync::ApiBuilder::new()
        .with_endpoint("http://127.0.0.1:9".into())
        .with_cache_dir(cache.path().to_path_buf());
    let err = lamer_policy::hub::download_from(builder, "Qwen/Qwen3-0.6B").unwrap_err();
    let line = err.to_string();
    assert!(
        line.contains("Qwen/Qwen3-0.6B") && !line.contains('\n'),
        "{line}"
    );
}

/// A Qwen2- and a Llama-3-architecture directory (tiny shapes, our
/// tokenizer) generate through the policy and train: LoRA factors and full
/// weights, biases included, all receive gradients.
#[test]
fn qwen2_and_llama_directories_generate_and_train() {
    use lamer_policy::scoring::{ScoreRow, score_tokens};
    use lamer_policy::{Pass, Policy, PolicyRequest, RequestKind, SamplingParams};
    let root = tempfile::tempdir().unwrap();
    let tokenizer = tiny::train_tokenizer().unwrap();
    for (model_type, class) in [("qwen2", "Qwen2ForCausalLM"), ("llama", "LlamaForCausalLM")] {
        let mut config = tiny::tiny_config(tokenizer.get_vocab_size(true));
        config.model_type = model_type.into();
        config.architectures = vec![class.into()];
        config.tie_word_embeddings = model_type == "qwen2";
        let weights = tiny::random_weights(&config, 3).unwrap();
        assert_eq!(
            weights.keys().any(|k| k.ends_with("q_proj.bias")),
            model_type == "qwen2"
        );
        assert!(!weights.keys().any(|k| k.contains("q_norm")));
        let dir = root.path().join(model_type);
        tiny::write_model_dir(&dir, &config, &tokenizer, &weights).unwrap();

        let mut policy = load(dir.to_str().unwrap()).unwrap();
        let request = PolicyRequest {
            messages: vec![lamer_policy::ChatMessage::user("Push the box.")],
            kind: RequestKind::Act,
            seed: 5,
            admissible_actions: vec![],
            expert_action: None,
        };
        let out = policy
            .generate(&[request], &SamplingParams::training(6))
            .unwrap();
        assert_eq!(out[0].response_ids.len(), out[0].logprobs.len());

        for mode in [TrainMode::Full, TrainMode::Lora(LoraConfig::default())] {
            let mut model = policy.model().clone();
            let params = TrainableParams::new(&mut model, mode.clone(), 1).unwrap();
            let rows = [ScoreRow {
                prompt_ids: &[1, 5, 9, 30],
                response_ids: &[4, 7],
            }];
            let loss = score_tokens(&model, &rows, 1.0, Pass::Train)
                .unwrap()
                .logprobs
                .sum_all()
                .unwrap();
            let grads = loss.backward().unwrap();
            for (name, var) in params.named_vars() {
                // A fresh adapter's B is zero, so only B gets a gradient at first.
                if name.contains("lora_A") {
                    continue;
                }
                let g = grads.get(var.as_tensor());
                assert!(g.is_some(), "{model_type} {mode:?}: no gradient for {name}");
            }
        }
    }
}
