//! Activation checkpointing changes memory, not maths: on a tiny random
//! model, in full and LoRA mode, the loss, every trainable's gradient and an
//! AdamW step are the same with decoder layers recomputed in backward as
//! with their activations kept (f32 to 1e-5 of each gradient's scale; bf16
//! to its resolution).

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use lamer_policy::tiny::random_weights;
use lamer_policy::*;
use lamer_sdk::SeededRng;

const VOCAB: usize = 61;

/// A model with weights ten times the usual init, so gradients are far from 0.
fn model(tied: bool) -> Qwen3Model {
    model_in(tied, DType::F32, false)
}

/// `biases`: every projection has one (as Qwen2's q/k/v, Llama's optional ones).
fn model_in(tied: bool, dtype: DType, biases: bool) -> Qwen3Model {
    let mut config = Qwen3Config::test_tiny(VOCAB);
    config.num_hidden_layers = 3;
    config.tie_word_embeddings = tied;
    config.attention_bias = biases;
    config.mlp_bias = biases;
    let mut w = random_weights(&config, 7).unwrap();
    for (name, t) in w.iter_mut() {
        if !name.ends_with("norm.weight") {
            *t = t.affine(10.0, 0.0).unwrap();
        }
    }
    let vb = VarBuilder::from_tensors(w, dtype, &Device::Cpu);
    Qwen3Model::new(&config, vb).unwrap()
}

fn lora() -> TrainMode {
    TrainMode::Lora(LoraConfig {
        rank: 4,
        alpha: 8.0,
        ..LoraConfig::default()
    })
}

/// Trainable params; LoRA `B` factors get random values (they start at 0,
/// which would make every `A` gradient 0 and the comparison vacuous).
fn trainable(model: &mut Qwen3Model, mode: TrainMode) -> TrainableParams {
    let params = TrainableParams::new(model, mode, 3).unwrap();
    let mut rng = SeededRng::new(9);
    for (name, var) in params.named_vars() {
        if name.contains("lora_B") {
            let v: Vec<f32> = (0..var.elem_count())
                .map(|_| (rng.unit() as f32 - 0.5) * 0.2)
                .collect();
            var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    params
}

/// A token-mean NLL over rows of different lengths (so padding is masked).
fn loss(model: &Qwen3Model) -> Tensor {
    let prompts: [&[u32]; 3] = [&[1, 2, 3, 4], &[5, 6], &[7, 8, 9, 10, 11, 12, 13]];
    let responses: [&[u32]; 3] = [&[14, 15, 16], &[17, 18, 19, 20, 21], &[22]];
    let rows: Vec<ScoreRow> = prompts
        .iter()
        .zip(responses)
        .map(|(p, r)| ScoreRow {
            prompt_ids: p,
            response_ids: r,
        })
        .collect();
    let s = score_tokens(model, &rows, 1.0, Pass::Train).unwrap();
    (s.logprobs.sum_all().unwrap() / s.mask.sum_all().unwrap())
        .unwrap()
        .neg()
        .unwrap()
}

/// The loss and gradients with checkpointing `on`.
fn loss_and_grads(model: &mut Qwen3Model, on: bool) -> (f32, GradStore) {
    model.set_activation_checkpointing(on);
    let l = loss(model);
    let grads = if on {
        activation_checkpoint::backward(&l).unwrap()
    } else {
        l.backward().unwrap()
    };
    (l.to_scalar().unwrap(), grads)
}

fn max_abs(t: &Tensor) -> f32 {
    t.abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}

/// Every var's gradient agrees to 1e-5 of its scale.
fn assert_same_grads(vars: &[(String, Var)], plain: &GradStore, ckpt: &GradStore) {
    for (name, var) in vars {
        let a = plain
            .get(var)
            .unwrap_or_else(|| panic!("{name}: no plain grad"));
        let b = ckpt
            .get(var)
            .unwrap_or_else(|| panic!("{name}: no ckpt grad"));
        let diff = max_abs(&(a - b).unwrap());
        let scale = max_abs(a).max(1e-3);
        assert!(scale > 1e-6, "{name}: vacuous gradient");
        assert!(diff <= 1e-5 * scale, "{name}: diff {diff} at scale {scale}");
    }
}

fn same_everything(tied: bool, mode: TrainMode) {
    let mut m = model(tied);
    let params = trainable(&mut m, mode);
    let (l0, g0) = loss_and_grads(&mut m, false);
    let (l1, g1) = loss_and_grads(&mut m, true);
    assert_eq!(l0, l1, "the forward is unchanged");
    assert_same_grads(params.named_vars(), &g0, &g1);
}

#[test]
fn full_fine_tuning_gradients_are_unchanged() {
    same_everything(false, TrainMode::Full);
}

#[test]
fn full_fine_tuning_with_tied_embeddings_gradients_are_unchanged() {
    same_everything(true, TrainMode::Full);
}

#[test]
fn projection_biases_get_the_same_gradients() {
    let mut m = model_in(false, DType::F32, true);
    let params = trainable(&mut m, TrainMode::Full);
    assert!(
        params
            .named_vars()
            .iter()
            .any(|(n, _)| n.ends_with("q_proj.bias"))
    );
    let (l0, g0) = loss_and_grads(&mut m, false);
    let (l1, g1) = loss_and_grads(&mut m, true);
    assert_eq!(l0, l1);
    assert_same_grads(params.named_vars(), &g0, &g1);
}

#[test]
fn lora_gradients_are_unchanged() {
    same_everything(true, lora());
}

#[test]
fn bf16_full_fine_tuning_gradients_agree_to_bf16_resolution() {
    let mut m = model_in(false, DType::BF16, false);
    let params = trainable(&mut m, TrainMode::Full);
    let (l0, g0) = loss_and_grads(&mut m, false);
    let (l1, g1) = loss_and_grads(&mut m, true);
    assert_eq!(l0, l1, "the forward is unchanged");
    for (name, var) in params.named_vars() {
        let f32_of = |g: &GradStore| g.get(var).unwrap().to_dtype(DType::F32).unwrap();
        let (a, b) = (f32_of(&g0), f32_of(&g1));
        let diff = max_abs(&(&a - &b).unwrap());
        // bf16 keeps 8 bits: sums taken in another order may differ by a few ulps.
        assert!(diff <= 2e-2 * max_abs(&a).max(1e-3), "{name}: diff {diff}");
    }
}

/// One clipped AdamW step from a fresh copy of the model; the updated values.
fn stepped(mode: TrainMode, on: bool) -> Vec<Tensor> {
    let mut m = model(false);
    let params = trainable(&mut m, mode);
    let mut opt = AdamW::new(
        params.named_vars(),
        AdamWConfig {
            lr: 1e-2,
            ..AdamWConfig::default()
        },
    )
    .unwrap();
    for _ in 0..2 {
        let (_, mut grads) = loss_and_grads(&mut m, on);
        clip_grad_norm(&mut grads, &params.vars(), 1.0).unwrap();
        opt.step(&grads).unwrap();
    }
    params
        .vars()
        .iter()
        .map(|v| v.as_tensor().copy().unwrap())
        .collect()
}

#[test]
fn adamw_steps_give_the_same_weights() {
    for mode in [TrainMode::Full, lora()] {
        let plain = stepped(mode.clone(), false);
        let ckpt = stepped(mode, true);
        for (a, b) in plain.iter().zip(&ckpt) {
            let diff = max_abs(&(a - b).unwrap());
            assert!(diff <= 1e-5 * max_abs(a).max(1e-3), "diff {diff}");
        }
    }
}

#[test]
fn checkpointing_keeps_generation_and_inference_as_they_were() {
    let mut m = model(true);
    let _params = trainable(&mut m, TrainMode::Full);
    let ids = Tensor::new(&[[1u32, 2, 3, 4]], &Device::Cpu).unwrap();
    let pos = Tensor::new(&[[0u32, 1, 2, 3]], &Device::Cpu).unwrap();
    let mask = model::causal_padding_mask(&[vec![1; 4]], &Device::Cpu).unwrap();
    let run = |m: &Qwen3Model| {
        m.forward_hidden(&ids, &pos, &mask, None, Pass::Inference)
            .unwrap()
    };
    let before = run(&m);
    m.set_activation_checkpointing(true);
    assert_eq!(max_abs(&(run(&m) - before).unwrap()), 0.0);
}
