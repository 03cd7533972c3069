//! End-to-end checks of the Qwen3 policy on tiny random models: equality with
//! candle's reference Qwen3, batched generation, log-prob consistency,
//! gradients, LoRA, checkpoints, the built-in tiny model and error cases.

use std::collections::HashMap;

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use lamer_policy::generation::{GenerationConfig, GenerationInput, generate};
use lamer_policy::model::causal_padding_mask;
use lamer_policy::tiny::random_weights;
use lamer_policy::*;
use lamer_sdk::SeededRng;

const VOCAB: usize = 97;

/// Random weights with non-trivial norm weights (so swapping q_norm and
/// k_norm, say, would show).
fn weights(config: &Qwen3Config, seed: u64) -> HashMap<String, Tensor> {
    let mut w = random_weights(config, seed).unwrap();
    let mut rng = SeededRng::new(seed ^ 0xabc);
    // Draw in name order: a HashMap iterates in a per-process random order,
    // which would give every test run different weights.
    let mut names: Vec<String> = w.keys().cloned().collect();
    names.sort();
    for name in names {
        let t = w.get_mut(&name).unwrap();
        let n = t.elem_count();
        let scale = if name.ends_with("norm.weight") {
            0.5
        } else {
            5.0
        };
        let noise: Vec<f32> = (0..n).map(|_| (rng.unit() as f32 - 0.5) * scale).collect();
        let noise = Tensor::from_vec(noise, t.shape(), &Device::Cpu).unwrap();
        *t = if name.ends_with("norm.weight") {
            (t.clone() + noise).unwrap()
        } else {
            // Larger weights than the 0.02 init, so logits are far from uniform.
            (t.clone() * 0.0 + noise.affine(0.05, 0.0).unwrap()).unwrap()
        };
    }
    w
}

fn model_from(config: &Qwen3Config, w: &HashMap<String, Tensor>) -> Qwen3Model {
    let vb = VarBuilder::from_tensors(w.clone(), DType::F32, &Device::Cpu);
    Qwen3Model::new(config, vb).unwrap()
}

fn test_model(tied: bool) -> (Qwen3Config, HashMap<String, Tensor>, Qwen3Model) {
    let mut config = Qwen3Config::test_tiny(VOCAB);
    config.tie_word_embeddings = tied;
    let w = weights(&config, 11);
    let model = model_from(&config, &w);
    (config, w, model)
}

fn all_logits(model: &Qwen3Model, rows: &[Vec<u32>], pass: Pass) -> Tensor {
    let b = rows.len();
    let l = rows[0].len();
    let ids: Vec<u32> = rows.concat();
    let input = Tensor::from_vec(ids, (b, l), &Device::Cpu).unwrap();
    let pos: Vec<u32> = (0..b).flat_map(|_| 0..l as u32).collect();
    let pos = Tensor::from_vec(pos, (b, l), &Device::Cpu).unwrap();
    let mask = causal_padding_mask(&vec![vec![1u8; l]; b], &Device::Cpu).unwrap();
    let h = model
        .forward_hidden(&input, &pos, &mask, None, pass)
        .unwrap();
    model.logits(&h).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn stock_config(c: &Qwen3Config) -> candle_transformers::models::qwen3::Config {
    candle_transformers::models::qwen3::Config {
        vocab_size: c.vocab_size,
        hidden_size: c.hidden_size,
        intermediate_size: c.intermediate_size,
        num_hidden_layers: c.num_hidden_layers,
        num_attention_heads: c.num_attention_heads,
        head_dim: c.head_dim(),
        attention_bias: c.attention_bias,
        num_key_value_heads: c.num_key_value_heads,
        max_position_embeddings: c.max_position_embeddings,
        sliding_window: None,
        max_window_layers: c.num_hidden_layers,
        tie_word_embeddings: c.tie_word_embeddings,
        rope_theta: c.rope_theta,
        rms_norm_eps: c.rms_norm_eps,
        use_sliding_window: false,
        hidden_act: candle_nn::Activation::Silu,
    }
}

#[test]
fn logits_equal_the_stock_candle_qwen3() {
    for tied in [true, false] {
        let (config, w, model) = test_model(tied);
        let rows = vec![
            vec![1u32, 5, 9, 2, 40, 41, 3, 7, 8, 90],
            vec![4u32, 4, 60, 12, 13, 14, 1, 2, 3, 96],
        ];
        let vb = VarBuilder::from_tensors(w.clone(), DType::F32, &Device::Cpu);
        let mut stock =
            candle_transformers::models::qwen3::Model::new(&stock_config(&config), vb).unwrap();
        let input = Tensor::new(rows.clone(), &Device::Cpu).unwrap();
        let hidden = stock.forward(&input, 0).unwrap();
        let head = if tied {
            &w["model.embed_tokens.weight"]
        } else {
            &w["lm_head.weight"]
        };
        let expected = hidden.broadcast_matmul(&head.t().unwrap()).unwrap();
        let scale = expected.abs().unwrap().max_keepdim(D::Minus1).unwrap();
        assert!(
            scale
                .flatten_all()
                .unwrap()
                .min(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 0.1
        );
        for pass in [Pass::Inference, Pass::Train] {
            let ours = all_logits(&model, &rows, pass);
            let diff = max_diff(&ours, &expected);
            eprintln!("STOCKDIFF tied={tied} {pass:?} {diff:e}");
            assert!(diff < 1e-4, "tied={tied} {pass:?}: max |Δlogit| = {diff}");
        }
    }
}

fn greedy(
    model: &Qwen3Model,
    prompts: &[Vec<u32>],
    stop: Vec<u32>,
    n: usize,
) -> Vec<generation::Generated> {
    let inputs: Vec<GenerationInput> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| GenerationInput {
            prompt_ids: p.clone(),
            seed: i as u64,
        })
        .collect();
    generate(
        model,
        &inputs,
        &GenerationConfig::new(SamplingParams::greedy(n), stop),
    )
    .unwrap()
}

#[test]
fn left_padded_batched_greedy_equals_one_by_one_and_finished_rows_leave() {
    let prompts = vec![
        vec![3u32, 8, 1],
        vec![10u32, 11, 12, 13, 14, 15, 16],
        vec![50u32; 12],
        vec![7u32],
    ];
    // A random model may greedily repeat one token forever, which leaves no
    // token to stop on early. Take the first weight seed (deterministically)
    // whose model emits, in some row, a token it has not emitted before.
    let (model, single, row, first_new) = (11..60)
        .find_map(|seed| {
            let mut config = Qwen3Config::test_tiny(VOCAB);
            config.tie_word_embeddings = true;
            let model = model_from(&config, &weights(&config, seed));
            let single: Vec<_> = prompts
                .iter()
                .map(|p| greedy(&model, std::slice::from_ref(p), vec![], 10).remove(0))
                .collect();
            // Stop on the first token of some row that the row has not
            // emitted before (from its second token on): that row finishes
            // early (and others wherever they emit it), exercising removal
            // from the batch.
            let found = single.iter().enumerate().find_map(|(r, s)| {
                (1..s.tokens.len())
                    .find(|&k| !s.tokens[..k].contains(&s.tokens[k]))
                    .map(|k| (r, k))
            });
            found.map(|(r, k)| (model, single, r, k))
        })
        .expect("no seed in 11..60 gives a model that varies its tokens");
    let stop = single[row].tokens[first_new];
    let single_stop: Vec<_> = prompts
        .iter()
        .map(|p| greedy(&model, std::slice::from_ref(p), vec![stop], 10).remove(0))
        .collect();
    let batched = greedy(&model, &prompts, vec![stop], 10);
    assert_eq!(batched[row].tokens.len(), first_new);
    assert_eq!(batched[row].finish, FinishReason::Stop);
    for (b, s) in batched.iter().zip(&single_stop) {
        assert_eq!(b.tokens, s.tokens);
        assert_eq!(b.finish, s.finish);
        for (x, y) in b.logprobs.iter().zip(&s.logprobs) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
    }
    assert!(
        single
            .iter()
            .any(|s| s.tokens.len() == 10 && s.finish == FinishReason::Length)
    );
}

#[test]
fn sampled_logprobs_match_teacher_forcing_and_ignore_batch_mates() {
    let (_, _, model) = test_model(true);
    let prompts = [
        vec![1u32, 2, 3, 4, 5],
        vec![9u32, 8],
        vec![30u32, 31, 32, 33],
    ];
    let sampling = SamplingParams::evaluation(12);
    let inputs: Vec<GenerationInput> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| GenerationInput {
            prompt_ids: p.clone(),
            seed: 100 + i as u64,
        })
        .collect();
    let config = GenerationConfig::new(sampling.clone(), vec![]);
    let out = generate(&model, &inputs, &config).unwrap();
    let alone = generate(&model, &inputs[1..2], &config).unwrap();
    // Tokens are identical; log-probs agree to float error (batched matmuls
    // sum in a different order).
    assert_eq!(
        out[1].tokens, alone[0].tokens,
        "a response must not depend on its batch"
    );
    for (x, y) in out[1].logprobs.iter().zip(&alone[0].logprobs) {
        assert!((x - y).abs() < 1e-5);
    }
    let other_seed = GenerationInput {
        seed: 7,
        ..inputs[1].clone()
    };
    let reseeded = generate(&model, &[other_seed], &config).unwrap();
    assert_ne!(reseeded[0].tokens, out[1].tokens);

    let rows: Vec<ScoreRow> = prompts
        .iter()
        .zip(&out)
        .map(|(p, o)| ScoreRow {
            prompt_ids: p,
            response_ids: &o.tokens,
        })
        .collect();
    for pass in [Pass::Train, Pass::Inference] {
        let scores = score_tokens(&model, &rows, sampling.temperature, pass).unwrap();
        let lp = scores.logprobs.to_vec2::<f32>().unwrap();
        let mask = scores.mask.to_vec2::<f32>().unwrap();
        let ent = scores.entropy.to_vec2::<f32>().unwrap();
        for (r, o) in out.iter().enumerate() {
            for (j, &sampled) in o.logprobs.iter().enumerate() {
                assert!((lp[r][j] - sampled).abs() < 1e-4, "row {r} token {j}");
                assert_eq!(mask[r][j], 1.0);
                assert!(ent[r][j] > 0.0 && ent[r][j] <= (VOCAB as f32).ln() + 1e-4);
            }
            assert!(mask[r][o.logprobs.len()..].iter().all(|&m| m == 0.0));
        }
    }
}

fn response_logprob_sum(model: &Qwen3Model) -> Tensor {
    let rows = [
        ScoreRow {
            prompt_ids: &[1, 2, 3],
            response_ids: &[4, 5, 6],
        },
        ScoreRow {
            prompt_ids: &[7, 8, 9, 10, 11],
            response_ids: &[12, 13],
        },
    ];
    score_tokens(model, &rows, 1.0, Pass::Train)
        .unwrap()
        .logprobs
        .sum_all()
        .unwrap()
}

#[test]
fn gradients_match_finite_differences() {
    let (_, _, mut model) = test_model(true);
    let params = TrainableParams::new(&mut model, TrainMode::Full, 0).unwrap();
    let loss = response_logprob_sum(&model);
    let grads = loss.backward().unwrap();
    let named: HashMap<&str, &Var> = params
        .named_vars()
        .iter()
        .map(|(n, v)| (n.as_str(), v))
        .collect();
    assert!(
        params
            .named_vars()
            .iter()
            .all(|(_, v)| grads.get(v).is_some()),
        "every weight gets a gradient"
    );
    let probes = [
        ("model.embed_tokens.weight", vec![5usize, 3]),
        ("model.layers.0.self_attn.q_proj.weight", vec![2, 7]),
        ("model.layers.1.self_attn.k_norm.weight", vec![3]),
        ("model.layers.1.mlp.down_proj.weight", vec![4, 9]),
        ("model.norm.weight", vec![1]),
    ];
    let eps = 5e-3f32;
    for (name, index) in probes {
        let var = named[name];
        let analytic = grads.get(var).unwrap().flatten_all().unwrap();
        let dims = var.dims().to_vec();
        let offset = if index.len() == 2 {
            index[0] * dims[1] + index[1]
        } else {
            index[0]
        };
        let analytic = analytic.get(offset).unwrap().to_scalar::<f32>().unwrap();
        let original = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let eval = |delta: f32| {
            let mut v = original.clone();
            v[offset] += delta;
            var.set(&Tensor::from_vec(v, dims.clone(), &Device::Cpu).unwrap())
                .unwrap();
            response_logprob_sum(&model).to_scalar::<f32>().unwrap()
        };
        let numeric = (eval(eps) - eval(-eps)) / (2.0 * eps);
        eval(0.0);
        let tol = 2e-2 * analytic.abs().max(0.1);
        assert!(
            (numeric - analytic).abs() < tol,
            "{name}{index:?}: numeric {numeric} vs analytic {analytic}"
        );
    }
}

#[test]
fn adamw_raises_the_likelihood_of_a_rewarded_response() {
    let (_, _, mut model) = test_model(true);
    let params = TrainableParams::new(&mut model, TrainMode::Full, 0).unwrap();
    let mut opt = AdamW::new(
        params.named_vars(),
        AdamWConfig {
            lr: 1e-2,
            ..Default::default()
        },
    )
    .unwrap();
    let before = response_logprob_sum(&model).to_scalar::<f32>().unwrap();
    for _ in 0..5 {
        let loss = response_logprob_sum(&model).neg().unwrap();
        let mut grads = loss.backward().unwrap();
        let norm = clip_grad_norm(&mut grads, &params.vars(), 1.0).unwrap();
        assert!(norm > 0.0);
        opt.step(&grads).unwrap();
    }
    let after = response_logprob_sum(&model).to_scalar::<f32>().unwrap();
    assert!(after > before + 1.0, "{before} -> {after}");
    assert_eq!(opt.step_count(), 5);
}

#[test]
fn zero_lora_changes_nothing_and_merged_equals_unmerged() {
    let (config, _, mut model) = test_model(false);
    let rows = vec![vec![1u32, 2, 3, 4, 5, 6]];
    let base = all_logits(&model, &rows, Pass::Inference);
    let lora = LoraConfig {
        rank: 4,
        alpha: 8.0,
        ..Default::default()
    };
    let params = TrainableParams::new(&mut model, TrainMode::Lora(lora.clone()), 3).unwrap();
    assert_eq!(params.named_vars().len(), 2 * 7 * config.num_hidden_layers);
    assert_eq!(
        max_diff(&all_logits(&model, &rows, Pass::Inference), &base),
        0.0
    );
    // Only the factors get gradients.
    let grads = response_logprob_sum(&model).backward().unwrap();
    let b = &params.named_vars()[1];
    assert!(b.0.ends_with("q_proj.lora_B.weight"), "{}", b.0);
    assert!(grads.get(&b.1).is_some());
    assert!(
        grads.get(model.lm_head_weight()).is_none(),
        "base weights are frozen"
    );
    // Give B values; the output changes, and merging keeps it.
    let mut rng = SeededRng::new(5);
    for (name, var) in params.named_vars() {
        if name.contains("lora_B") {
            let v: Vec<f32> = (0..var.elem_count())
                .map(|_| rng.unit() as f32 - 0.5)
                .collect();
            var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    let adapted = all_logits(&model, &rows, Pass::Inference);
    assert!(max_diff(&adapted, &base) > 1e-2);
    let mut merged = model.clone();
    lora::merge_lora(&mut merged).unwrap();
    assert!(max_diff(&all_logits(&merged, &rows, Pass::Inference), &adapted) < 1e-4);
}

#[test]
fn checkpoints_round_trip_weights_adapters_and_optimizer_state() {
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![vec![9u32, 8, 7, 6]];
    let (config, w, _) = test_model(true);

    // Adapter: PEFT names + adapter_config.json, loads into a fresh model.
    let mut model = model_from(&config, &w);
    let lora = LoraConfig {
        rank: 2,
        alpha: 4.0,
        target_modules: vec!["q_proj".into(), "down_proj".into()],
        ..Default::default()
    };
    let params = TrainableParams::new(&mut model, TrainMode::Lora(lora.clone()), 1).unwrap();
    for (_, var) in params.named_vars() {
        var.set(&var.as_tensor().affine(1.0, 0.01).unwrap())
            .unwrap();
    }
    params.save(&dir.path().join("adapter")).unwrap();
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("adapter/adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["r"], 2);
    assert_eq!(
        cfg["target_modules"],
        serde_json::json!(["q_proj", "down_proj"])
    );
    let saved = candle_core::safetensors::load(
        dir.path().join("adapter/adapter_model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    assert!(saved.contains_key("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight"));
    assert_eq!(saved.len(), 2 * 2 * config.num_hidden_layers);
    let mut fresh = model_from(&config, &w);
    let resumed = TrainableParams::resume(&mut fresh, &dir.path().join("adapter")).unwrap();
    assert_eq!(resumed.mode(), &TrainMode::Lora(lora));
    assert_eq!(
        max_diff(
            &all_logits(&fresh, &rows, Pass::Inference),
            &all_logits(&model, &rows, Pass::Inference)
        ),
        0.0
    );

    // Full weights + optimiser: resuming continues exactly.
    let mut model = model_from(&config, &w);
    let params = TrainableParams::new(&mut model, TrainMode::Full, 0).unwrap();
    let mut opt = AdamW::new(
        params.named_vars(),
        AdamWConfig {
            lr: 1e-3,
            ..Default::default()
        },
    )
    .unwrap();
    let step = |model: &Qwen3Model, opt: &mut AdamW| {
        let grads = response_logprob_sum(model)
            .neg()
            .unwrap()
            .backward()
            .unwrap();
        opt.step(&grads).unwrap();
    };
    step(&model, &mut opt);
    step(&model, &mut opt);
    params.save(&dir.path().join("full")).unwrap();
    opt.save(&dir.path().join("full/optimizer.safetensors"))
        .unwrap();
    step(&model, &mut opt);
    let continued = all_logits(&model, &rows, Pass::Inference);

    let mut fresh = model_from(&config, &w);
    let params2 = TrainableParams::resume(&mut fresh, &dir.path().join("full")).unwrap();
    let mut opt2 = AdamW::new(params2.named_vars(), AdamWConfig::default()).unwrap();
    opt2.load(&dir.path().join("full/optimizer.safetensors"))
        .unwrap();
    assert_eq!(opt2.step_count(), 2);
    assert_eq!(opt2.config().lr, 1e-3);
    step(&fresh, &mut opt2);
    assert_eq!(
        max_diff(&all_logits(&fresh, &rows, Pass::Inference), &continued),
        0.0
    );
}

#[test]
fn the_tiny_model_materialises_deterministically_loads_and_generates() {
    let root = tempfile::tempdir().unwrap();
    let a = tiny::materialize(&root.path().join("a")).unwrap();
    let b = tiny::materialize(&root.path().join("b")).unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(x == y, "{f} differs between two builds");
    }
    let mut policy = LlmPolicy::load(&a, &Device::Cpu, DType::F32).unwrap();
    let config = policy.model().config().clone();
    assert!(config.max_position_embeddings >= 2048);
    let tok = policy.tokenizer();
    assert!(tok.vocab_size() > 1000 && tok.vocab_size() <= config.vocab_size);
    // Environment strings tokenise compactly and round-trip.
    let text = "<action>up, right</action> Row 1: ? ? 1 . click[buy now] (2, 3) √";
    let ids = tok.encode(text).unwrap();
    assert!(ids.len() < text.len() / 2, "{} tokens", ids.len());
    assert_eq!(tok.decode(&ids).unwrap(), text);
    let request = PolicyRequest {
        messages: vec![ChatMessage::user("You are playing Sokoban. Move.")],
        kind: RequestKind::Act,
        seed: 1,
        admissible_actions: vec![],
        expert_action: None,
    };
    let out = policy
        .generate(&[request.clone(), request], &SamplingParams::training(6))
        .unwrap();
    assert_eq!(out[0], out[1]);
    let prompt = policy.tokenizer().decode(&out[0].prompt_ids).unwrap();
    assert!(
        prompt.ends_with("<|im_start|>assistant\n<think>\n\n</think>\n\n"),
        "{prompt}"
    );
    assert!(!out[0].response_ids.is_empty());
    assert_eq!(out[0].response_ids.len(), out[0].logprobs.len());
    assert_eq!(
        out[0].text,
        policy.tokenizer().decode(&out[0].response_ids).unwrap()
    );
}

#[test]
fn errors_name_what_is_wrong() {
    let root = tempfile::tempdir().unwrap();
    let dir = tiny::materialize(&root.path().join("m")).unwrap();
    let load = |d: &std::path::Path| LlmPolicy::load(d, &Device::Cpu, DType::F32).map(|_| ());

    // A missing file is named.
    let broken = root.path().join("no-tokenizer");
    std::fs::create_dir(&broken).unwrap();
    std::fs::copy(dir.join("config.json"), broken.join("config.json")).unwrap();
    let err = load(&broken).unwrap_err();
    assert!(
        matches!(err, PolicyError::MissingFile { .. })
            && err.to_string().contains("tokenizer.json"),
        "{err}"
    );
    std::fs::copy(dir.join("tokenizer.json"), broken.join("tokenizer.json")).unwrap();
    let err = load(&broken).unwrap_err();
    assert!(err.to_string().contains("model.safetensors"), "{err}");

    // Another architecture.
    let other = root.path().join("mistral");
    std::fs::create_dir(&other).unwrap();
    for f in ["tokenizer.json", "model.safetensors"] {
        std::fs::copy(dir.join(f), other.join(f)).unwrap();
    }
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    cfg["architectures"] = serde_json::json!(["MistralForCausalLM"]);
    cfg["model_type"] = serde_json::json!("mistral");
    std::fs::write(other.join("config.json"), cfg.to_string()).unwrap();
    assert!(matches!(
        load(&other).unwrap_err(),
        PolicyError::UnsupportedArchitecture { .. }
    ));

    // Config and weights disagree: the tensor and both shapes are named.
    cfg["architectures"] = serde_json::json!(["Qwen3ForCausalLM"]);
    cfg["model_type"] = serde_json::json!("qwen3");
    cfg["intermediate_size"] = serde_json::json!(100);
    std::fs::write(other.join("config.json"), cfg.to_string()).unwrap();
    let err = load(&other).unwrap_err();
    match &err {
        PolicyError::WeightShape {
            tensor,
            expected,
            found,
        } => {
            assert_eq!(tensor, "model.layers.0.mlp.gate_proj.weight");
            assert_eq!(expected, &vec![100, 64]);
            assert_eq!(found, &vec![192, 64]);
        }
        e => panic!("unexpected {e}"),
    }
    assert!(err.to_string().contains("[192, 64]"), "{err}");

    // Empty and over-long prompts.
    let mut policy = LlmPolicy::load(&dir, &Device::Cpu, DType::F32).unwrap();
    let mut request = PolicyRequest {
        messages: vec![ChatMessage::user(" ")],
        kind: RequestKind::Act,
        seed: 0,
        admissible_actions: vec![],
        expert_action: None,
    };
    let err = policy
        .generate(&[request.clone()], &SamplingParams::greedy(4))
        .unwrap_err();
    assert!(matches!(err, PolicyError::EmptyPrompt { index: 0 }));
    request.messages = vec![ChatMessage::user("move ".repeat(3000))];
    let err = policy
        .generate(&[request], &SamplingParams::greedy(1200))
        .unwrap_err();
    assert!(
        matches!(
            err,
            PolicyError::PromptTooLong {
                index: 0,
                limit: 4096,
                ..
            }
        ),
        "{err}"
    );
}

/// Logits of left-padded `rows` (all positions) under the inference pass.
fn padded_logits(model: &Qwen3Model, rows: &[Vec<u32>]) -> Tensor {
    let width = rows.iter().map(Vec::len).max().unwrap();
    let mut ids = Vec::new();
    let mut pos = Vec::new();
    let mut valid = Vec::new();
    for r in rows {
        let pad = width - r.len();
        ids.extend(std::iter::repeat_n(0u32, pad));
        ids.extend_from_slice(r);
        pos.extend(std::iter::repeat_n(0u32, pad));
        pos.extend(0..r.len() as u32);
        let mut v = vec![0u8; pad];
        v.resize(width, 1);
        valid.push(v);
    }
    let b = rows.len();
    let input = Tensor::from_vec(ids, (b, width), &Device::Cpu).unwrap();
    let pos = Tensor::from_vec(pos, (b, width), &Device::Cpu).unwrap();
    let mask = causal_padding_mask(&valid, &Device::Cpu).unwrap();
    let h = model
        .forward_hidden(&input, &pos, &mask, None, Pass::Inference)
        .unwrap();
    model.logits(&h).unwrap()
}

#[test]
fn attention_in_query_blocks_equals_one_block_and_pads_stay_finite() {
    let (_, _, mut model) = test_model(true);
    let rows = vec![
        (1..20).collect::<Vec<u32>>(),
        vec![5u32, 6, 7],
        (30..42).collect::<Vec<u32>>(),
    ];
    let whole = padded_logits(&model, &rows);
    // One query per block, then blocks of a few queries (a ragged last one).
    for budget in [1usize, 3 * 4 * 19 * 5] {
        model.set_attention_score_budget(budget);
        let blocked = padded_logits(&model, &rows);
        assert!(
            max_diff(&whole, &blocked) <= 1e-6,
            "budget {budget}: {}",
            max_diff(&whole, &blocked)
        );
    }
    // Left pads see no key at all: their outputs are finite, not NaN.
    let all: Vec<f32> = whole.flatten_all().unwrap().to_vec1().unwrap();
    assert!(all.iter().all(|x| x.is_finite()));
    // The training pass (fused op with its own backward) agrees too.
    let train = all_logits(&model, &rows[..1], Pass::Train);
    let infer = all_logits(&model, &rows[..1], Pass::Inference);
    assert!(max_diff(&train, &infer) < 1e-4);
}

/// Generation with no cache at all: the whole sequence is recomputed for
/// every token, and the host reference sampler picks with the row's draws.
fn recompute_generate(
    model: &Qwen3Model,
    prompt: &[u32],
    params: &SamplingParams,
    seed: u64,
    stop: &[u32],
) -> generation::Generated {
    let mut rng = SeededRng::new(seed);
    let mut seq = prompt.to_vec();
    let mut out = generation::Generated {
        tokens: vec![],
        logprobs: vec![],
        stop: None,
        finish: FinishReason::Length,
    };
    while out.tokens.len() < params.max_new_tokens {
        let logits = all_logits(model, std::slice::from_ref(&seq), Pass::Inference);
        let last: Vec<f32> = logits
            .get(0)
            .unwrap()
            .get(seq.len() - 1)
            .unwrap()
            .to_vec1()
            .unwrap();
        let u = if params.temperature > 0.0 {
            rng.unit()
        } else {
            0.0
        };
        let (t, lp) = sampling::sample_with_uniform(&last, params, &seq, u);
        if stop.contains(&t) {
            out.stop = Some((t, lp));
            out.finish = FinishReason::Stop;
            break;
        }
        out.tokens.push(t);
        out.logprobs.push(lp);
        seq.push(t);
    }
    out
}

#[test]
fn the_in_place_cache_and_device_sampler_equal_a_full_recompute() {
    let (_, _, model) = test_model(true);
    let prompts = [
        vec![3u32, 8, 1],
        (10..22).collect::<Vec<u32>>(),
        vec![50u32; 6],
        vec![7u32],
        (60..70).collect::<Vec<u32>>(),
    ];
    let mut penalised = SamplingParams::evaluation(9);
    penalised.repetition_penalty = 1.05;
    let mut strong = SamplingParams::training(9);
    strong.repetition_penalty = 2.0;
    let cases = [
        SamplingParams::greedy(9),
        SamplingParams::training(9),
        penalised,
        strong,
    ];
    for params in cases {
        // A stop token some row emits, so rows leave the batch at different steps.
        let free: Vec<_> = prompts
            .iter()
            .enumerate()
            .map(|(i, p)| recompute_generate(&model, p, &params, 40 + i as u64, &[]))
            .collect();
        let stop = free[1].tokens[free[1].tokens.len() / 2];
        let reference: Vec<_> = prompts
            .iter()
            .enumerate()
            .map(|(i, p)| recompute_generate(&model, p, &params, 40 + i as u64, &[stop]))
            .collect();
        assert!(reference.iter().any(|r| r.finish == FinishReason::Stop));
        let inputs: Vec<GenerationInput> = prompts
            .iter()
            .enumerate()
            .map(|(i, p)| GenerationInput {
                prompt_ids: p.clone(),
                seed: 40 + i as u64,
            })
            .collect();
        let mut config = GenerationConfig::new(params.clone(), vec![stop]);
        // Two prefill row groups write one cache.
        config.prefill_token_budget = 24;
        let got = generate(&model, &inputs, &config).unwrap();
        for (r, (g, want)) in got.iter().zip(&reference).enumerate() {
            assert_eq!(g.tokens, want.tokens, "{params:?} row {r}");
            assert_eq!(g.finish, want.finish, "{params:?} row {r}");
            assert_eq!(g.stop.map(|s| s.0), want.stop.map(|s| s.0));
            for (x, y) in g.logprobs.iter().zip(&want.logprobs) {
                assert!((x - y).abs() < 1e-5, "{params:?} row {r}: {x} vs {y}");
            }
        }
    }
}

#[test]
fn the_cache_is_written_in_place_and_rows_swap_out() {
    use lamer_policy::kv_cache::KvCache;
    let dev = Device::Cpu;
    let mut cache = KvCache::preallocated(1, 3, 1, 4, 2, DType::F32, &dev).unwrap();
    let col = |base: f32| {
        Tensor::from_vec(
            vec![
                base,
                base + 0.5,
                base + 10.0,
                base + 10.5,
                base + 20.0,
                base + 20.5,
            ],
            (3, 1, 1, 2),
            &dev,
        )
        .unwrap()
    };
    cache.append(0, &col(1.0), &col(1.0)).unwrap();
    let (k, _) = cache.append(0, &col(2.0), &col(2.0)).unwrap();
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.capacity(), 4, "no reallocation within the capacity");
    assert_eq!(
        k.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        vec![
            1.0, 1.5, 2.0, 2.5, 11.0, 11.5, 12.0, 12.5, 21.0, 21.5, 22.0, 22.5
        ]
    );
    // Row 0 leaves: the last row takes its place, row 1 stays put.
    cache.swap_remove_rows(&[0]).unwrap();
    assert_eq!(cache.rows(), 2);
    let two = Tensor::from_vec(vec![3.0f32, 3.5, 13.0, 13.5], (2, 1, 1, 2), &dev).unwrap();
    let (k, _) = cache.append(0, &two, &two).unwrap();
    assert_eq!(
        k.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        vec![
            21.0, 21.5, 22.0, 22.5, 3.0, 3.5, 11.0, 11.5, 12.0, 12.5, 13.0, 13.5
        ]
    );
    // Past the capacity it grows and keeps what it held.
    let (k, _) = cache.append(0, &two, &two).unwrap();
    let (k2, _) = cache.append(0, &two, &two).unwrap();
    assert_eq!(k.dim(2).unwrap(), 4);
    assert_eq!(k2.dim(2).unwrap(), 5);
    assert!(cache.capacity() >= 5);
    let row0: Vec<f32> = k2.get(0).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(&row0[..6], &[21.0, 21.5, 22.0, 22.5, 3.0, 3.5]);
}

/// Element-wise f32 values of a tensor.
fn values(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn bf16_training_at_lr_1e6_moves_f32_masters_like_the_f32_path() {
    let config = {
        let mut c = Qwen3Config::test_tiny(VOCAB);
        c.tie_word_embeddings = true;
        c
    };
    // Start both paths from the same (bf16-representable) values.
    let w: HashMap<String, Tensor> = weights(&config, 11)
        .into_iter()
        .map(|(n, t)| {
            (
                n,
                t.to_dtype(DType::BF16)
                    .unwrap()
                    .to_dtype(DType::F32)
                    .unwrap(),
            )
        })
        .collect();
    let load = |dtype: DType| {
        let vb = VarBuilder::from_tensors(w.clone(), dtype, &Device::Cpu);
        Qwen3Model::new(&config, vb).unwrap()
    };
    let adam = AdamWConfig {
        lr: 1e-6,
        weight_decay: 0.0,
        ..Default::default()
    };
    let steps = 12;
    let run = |dtype: DType| {
        let mut model = load(dtype);
        let params = TrainableParams::new(&mut model, TrainMode::Full, 0).unwrap();
        let initial: Vec<Vec<f32>> = params
            .named_vars()
            .iter()
            .map(|(_, v)| values(v.as_tensor()))
            .collect();
        let mut opt = AdamW::new(params.named_vars(), adam).unwrap();
        for _ in 0..steps {
            let grads = response_logprob_sum(&model)
                .neg()
                .unwrap()
                .backward()
                .unwrap();
            opt.step(&grads).unwrap();
        }
        let masters: Vec<Vec<f32>> = (0..params.named_vars().len())
            .map(|i| values(&opt.master_value(i).unwrap()))
            .collect();
        let stored: Vec<Vec<f32>> = params
            .named_vars()
            .iter()
            .map(|(_, v)| values(v.as_tensor()))
            .collect();
        (initial, masters, stored)
    };
    let (init32, master32, _) = run(DType::F32);
    let (init16, master16, stored16) = run(DType::BF16);
    assert_eq!(init32, init16);
    // Displacements: the bf16 path's masters move as the f32 path's weights.
    let (mut diff, mut norm, mut moved_master, mut moved_stored, mut total) = (0f64, 0f64, 0, 0, 0);
    for i in 0..init32.len() {
        for j in 0..init32[i].len() {
            let d32 = (master32[i][j] - init32[i][j]) as f64;
            let d16 = (master16[i][j] - init16[i][j]) as f64;
            diff += (d16 - d32).powi(2);
            norm += d32.powi(2);
            total += 1;
            moved_master += usize::from(d16 != 0.0);
            moved_stored += usize::from(stored16[i][j] != init16[i][j]);
            // The stored copy is always the master rounded to bf16.
            let rounded = Tensor::new(&[master16[i][j]], &Device::Cpu)
                .unwrap()
                .to_dtype(DType::BF16)
                .unwrap();
            assert_eq!(values(&rounded)[0], stored16[i][j]);
        }
    }
    let rel = (diff / norm).sqrt();
    // Tolerance: bf16 forward/backward rounding changes the gradients by a
    // few percent; AdamW's normalised steps keep the displacements close.
    assert!(rel < 0.25, "relative displacement error {rel}");
    // ~12 steps of ~1e-6 are far below the resolution of most bf16 weights,
    // yet every master moved; only the smallest weights' bf16 copies did.
    assert!(
        moved_master as f64 > 0.95 * total as f64,
        "{moved_master} of {total}"
    );
    assert!(moved_stored > 0, "no bf16 weight crossed its resolution");
    assert!(
        (moved_stored as f64) < 0.5 * total as f64,
        "{moved_stored} of {total}"
    );
}

#[test]
fn identical_prompts_are_prefilled_once_and_each_row_still_samples_alone() {
    let (_, _, model) = test_model(true);
    let shared = vec![4u32, 9, 16, 25, 36, 49, 64];
    let other = vec![2u32, 3, 5, 7];
    let inputs: Vec<GenerationInput> = [&shared, &other, &shared, &shared]
        .iter()
        .enumerate()
        .map(|(i, p)| GenerationInput {
            prompt_ids: p.to_vec(),
            seed: 70 + i as u64,
        })
        .collect();
    assert_eq!(generation::prefill_tokens(&inputs), (2 * 7, 2 * 7));
    let config = GenerationConfig::new(SamplingParams::training(8), vec![]);
    let together = generate(&model, &inputs, &config).unwrap();
    for (input, got) in inputs.iter().zip(&together) {
        let alone = generate(&model, std::slice::from_ref(input), &config).unwrap();
        assert_eq!(got.tokens, alone[0].tokens);
        for (x, y) in got.logprobs.iter().zip(&alone[0].logprobs) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }
    // Different seeds on the shared prompt give different continuations.
    assert_ne!(together[0].tokens, together[2].tokens);
}
