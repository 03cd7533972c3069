"""Reference outputs of Hugging Face transformers and PEFT for lamer's parity tests.

Steps (run.sh calls them in order, with the Rust side in between):

  models  OUT EXPORTS [--big]  write the random reference models (save_pretrained), the
                          PEFT-made adapter, and every case's inputs (reference.json)
  record  OUT EXPORTS     load each case in transformers (and PEFT), check that what
                          lamer exported loads without missing/unexpected keys, and
                          record logits, greedy continuations and the log-probs of
                          lamer's samples (reference.json + reference.safetensors)
  chat    OUT HOST PLUGINS  render every environment's prompts with Qwen3's Jinja
                          chat template through transformers (text and token ids)

Every random draw is seeded, so running it again reproduces the fixtures exactly.
"""

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import torch
from safetensors.torch import save_file

import peft
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

SEED = 20260101
TOLERANCE = 1e-4
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SMALL = dict(
    vocab_size=256,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=256,
    rms_norm_eps=1e-6,
)


def versions():
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    }


def small_configs():
    """The random reference architectures: name -> (config class, kwargs)."""
    from transformers import LlamaConfig, Qwen2Config, Qwen3Config

    return {
        "qwen3-small": (Qwen3Config, dict(SMALL, tie_word_embeddings=True, rope_theta=1e6)),
        "qwen2-small": (Qwen2Config, dict(SMALL, tie_word_embeddings=False, rope_theta=1e6)),
        "llama3-small": (
            LlamaConfig,
            dict(
                SMALL,
                tie_word_embeddings=False,
                rope_theta=500000.0,
                # original 64 puts the head's frequencies in all three bands.
                rope_scaling=dict(
                    rope_type="llama3",
                    factor=8.0,
                    low_freq_factor=1.0,
                    high_freq_factor=4.0,
                    original_max_position_embeddings=64,
                ),
                bos_token_id=None,
                eos_token_id=None,
            ),
        ),
    }


def big_config():
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=151936,
        hidden_size=1024,
        intermediate_size=3072,
        num_hidden_layers=28,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=128,
        max_position_embeddings=40960,
        rope_theta=1e6,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=None,
    )


def perturb(model, seed):
    """Random init leaves norms at 1 and biases at 0; move them so they matter,
    and scale weights up so logits are O(1) and attention is far from uniform."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(0.15 * noise)


def case_inputs(case, vocab, model, adapter=None, seed=SEED, lengths=(1, 7, 40)):
    rng = np.random.default_rng(seed)
    ids = lambda n: [int(x) for x in rng.integers(0, vocab, n)]  # noqa: E731
    sample = sorted(int(x) for x in rng.choice(vocab, size=min(64, vocab), replace=False))
    return {
        "case": case,
        "model": model,
        "adapter": adapter,
        "tolerance": TOLERANCE,
        "vocab_sample": sample,
        "prompts": [ids(n) for n in lengths],
        "batch": [ids(5), ids(12), ids(3)],
        "greedy": [{"prompt": ids(4), "tokens": []}, {"prompt": ids(9), "tokens": []}],
        "samples": [
            dict(prompt=ids(6), seed=11, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=16),
            dict(prompt=ids(3), seed=12, temperature=0.7, top_k=20, top_p=0.8, max_new_tokens=16),
        ],
        "versions": versions(),
    }


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=1)
        f.write("\n")


def models_step(out, exports, big):
    os.makedirs(out, exist_ok=True)
    cases = {}
    if big:
        torch.manual_seed(SEED)
        config = big_config()
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        d = os.path.join(out, "qwen3-0.6b-shape")
        model.save_pretrained(os.path.join(d, "model"))
        cases[d] = case_inputs("qwen3-0.6b-shape", config.vocab_size, {"dir": "model"},
                               lengths=(1, 16, 128))
    else:
        for i, (name, (cls, kwargs)) in enumerate(small_configs().items()):
            torch.manual_seed(SEED + i)
            config = cls(**kwargs)
            model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
            perturb(model, SEED + i)
            d = os.path.join(out, name)
            model.save_pretrained(os.path.join(d, "model"))
            cases[d] = case_inputs(name, config.vocab_size, {"dir": "model"})
        # A PEFT-made adapter (non-zero A and B) on the small Qwen3.
        base = AutoModelForCausalLM.from_pretrained(os.path.join(out, "qwen3-small", "model"))
        torch.manual_seed(SEED + 100)
        lcfg = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=TARGETS,
                               init_lora_weights=False, task_type="CAUSAL_LM")
        pm = peft.get_peft_model(base, lcfg)
        d = os.path.join(out, "qwen3-small-peft")
        pm.save_pretrained(os.path.join(d, "adapter"))
        # The recorded base path is the one the fixture uses.
        cfg_path = os.path.join(d, "adapter", "adapter_config.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["base_model_name_or_path"] = "../qwen3-small/model"
        cfg["target_modules"] = sorted(cfg["target_modules"])  # a set in PEFT
        write_json(cfg_path, cfg)
        cases[d] = case_inputs("qwen3-small-peft", 256, {"dir": "../qwen3-small/model"},
                               adapter={"dir": "adapter"}, seed=SEED + 100)
        # What lamer exports (the Rust side writes them; see EXPORTS).
        with open(os.path.join(exports, "tiny", "config.json")) as f:
            tiny_vocab = json.load(f)["vocab_size"]
        for j, (name, model, adapter) in enumerate([
            ("tiny", {"export": "tiny"}, None),
            ("tiny-full", {"export": "tiny-full"}, None),
            ("tiny-merged", {"export": "tiny-merged"}, None),
            ("tiny-peft", {"export": "tiny"}, {"export": "tiny-adapter"}),
        ]):
            d = os.path.join(out, name)
            cases[d] = case_inputs(name, tiny_vocab, model, adapter=adapter, seed=SEED + 200 + j)
    for d, inputs in cases.items():
        os.makedirs(d, exist_ok=True)
        write_json(os.path.join(d, "reference.json"), inputs)


class Captured(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


BAD = ("missing", "unexpected", "newly initialized", "not initialized", "mismatch", "not used")


def load_checked(path):
    """Loads a model directory in transformers, failing on any key warning."""
    handler = Captured()
    logging.getLogger("transformers").addHandler(handler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, info = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32,
                                                           output_loading_info=True)
    logging.getLogger("transformers").removeHandler(handler)
    messages = handler.messages + [str(w.message) for w in caught]
    problems = [k for k in ("missing_keys", "unexpected_keys", "mismatched_keys") if info.get(k)]
    bad = [m for m in messages if any(b in m.lower() for b in BAD)]
    if problems or bad or info.get("error_msgs"):
        sys.exit(f"{path}: transformers reported {info} / {bad}")
    return model


def load_adapter_checked(model, path):
    handler = Captured()
    logging.getLogger("peft").addHandler(handler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = peft.PeftModel.from_pretrained(model, path)
    logging.getLogger("peft").removeHandler(handler)
    messages = handler.messages + [str(w.message) for w in caught]
    bad = [m for m in messages if any(b in m.lower() for b in BAD)]
    if bad:
        sys.exit(f"{path}: PEFT reported {bad}")
    return pm


def resolve(source, case_dir, exports):
    if "dir" in source:
        return os.path.normpath(os.path.join(case_dir, source["dir"]))
    return os.path.join(exports, source["export"])


@torch.no_grad()
def record_case(case_dir, exports, dtype=torch.float32):
    with open(os.path.join(case_dir, "reference.json")) as f:
        ref = json.load(f)
    model = load_checked(resolve(ref["model"], case_dir, exports))
    if ref.get("adapter"):
        model = load_adapter_checked(model, resolve(ref["adapter"], case_dir, exports))
    model = model.to(dtype).eval()
    cols = torch.tensor(ref["vocab_sample"])
    tensors = {}
    logits_of = lambda ids: model(torch.tensor([ids])).logits[0].float()  # noqa: E731
    for i, p in enumerate(ref["prompts"]):
        logits = logits_of(p)
        tensors[f"prompt.{i}.sample"] = logits[:, cols].contiguous()
        tensors[f"prompt.{i}.last"] = logits[-1].contiguous()
    # A left-padded batch: pads masked, positions counted from each row's start.
    rows = ref["batch"]
    length = max(map(len, rows))
    ids = torch.tensor([[0] * (length - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (length - len(r)) + [1] * len(r) for r in rows])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits.float()
    tensors["batch.sample"] = torch.nan_to_num(logits[:, :, cols]).contiguous()
    tensors["batch.last"] = logits[:, -1].contiguous()
    # Greedy: transformers' own generate, no stop token.
    for g in ref["greedy"]:
        n = 32
        out = model.generate(torch.tensor([g["prompt"]]), do_sample=False, max_new_tokens=n,
                             min_new_tokens=n, eos_token_id=None, pad_token_id=0)
        g["tokens"] = out[0, len(g["prompt"]):].tolist()
    # Our samples, scored by transformers.
    samples_path = os.path.join(case_dir, "samples.json")
    with open(samples_path) as f:
        ours = json.load(f)
    for s, o in zip(ref["samples"], ours):
        full = s["prompt"] + o["tokens"]
        logits = logits_of(full)[len(s["prompt"]) - 1 : -1] / s["temperature"]
        lp = torch.log_softmax(logits.double(), -1).gather(1, torch.tensor(o["tokens"])[:, None])
        s["tokens"] = o["tokens"]
        s["logprobs"] = o["logprobs"]
        s["reference_logprobs"] = [float(x) for x in lp[:, 0]]
    os.remove(samples_path)
    ref["versions"] = versions()
    write_json(os.path.join(case_dir, "reference.json"), ref)
    save_file(tensors, os.path.join(case_dir, "reference.safetensors"))
    return model


@torch.no_grad()
def bf16_spread(case_dir, exports):
    """transformers' own bf16 error on a case's prompts (context for ours)."""
    with open(os.path.join(case_dir, "reference.json")) as f:
        ref = json.load(f)
    path = resolve(ref["model"], case_dir, exports)
    m32 = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    m16 = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).eval()
    worst = 0.0
    for p in ref["prompts"]:
        a = m32(torch.tensor([p])).logits.float()
        b = m16(torch.tensor([p])).logits.float()
        worst = max(worst, float((a - b).abs().max()))
    return worst


def record_step(out, exports, spread):
    for name in sorted(os.listdir(out)):
        d = os.path.join(out, name)
        if os.path.isfile(os.path.join(d, "reference.json")) and name != "chat":
            record_case(d, exports)
            line = {"case": name, "recorded": True}
            if spread:
                line["transformers_bf16_vs_f32_max_logit_diff"] = bf16_spread(d, exports)
            print(json.dumps(line))
    compare_adapter_configs(out, exports)


def compare_adapter_configs(out, exports):
    """Records which adapter_config.json keys PEFT writes that ours lacks."""
    peft_cfg_path = os.path.join(out, "qwen3-small-peft", "adapter", "adapter_config.json")
    ours_path = os.path.join(exports, "tiny-adapter", "adapter_config.json")
    if not (os.path.isfile(peft_cfg_path) and os.path.isfile(ours_path)):
        return
    with open(peft_cfg_path) as f:
        theirs = json.load(f)
    with open(ours_path) as f:
        ours = json.load(f)
    missing = sorted(set(theirs) - set(ours))
    extra = sorted(set(ours) - set(theirs))
    print(json.dumps({"adapter_config_keys_missing_in_ours": missing, "extra_in_ours": extra}))


ENVS = ["sokoban", "minesweeper", "webshop", "alfworld", "keydoor"]


def chat_step(out, host, plugins, tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    cases = []
    for env in ENVS:
        wasm = os.path.join(plugins, f"{env}.wasm")
        for attempt in (1, 2, 3):
            for reflect in ([False, True] if attempt > 1 else [False]):
                cmd = [host, "prompt", "--plugin", wasm, "--task", "0", "--attempt", str(attempt)]
                if reflect:
                    cmd.append("--reflect")
                text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                # `prompt` prints the message and a newline.
                messages = [{"role": "user", "content": text[:-1] if text.endswith("\n") else text}]
                cases.append(dict(env=env, attempt=attempt, reflect=reflect, messages=messages))
    cases.append(dict(env="conversation", attempt=0, reflect=False, messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Push the box.\nNow."},
        {"role": "assistant", "content": "<action>left</action>"},
        {"role": "user", "content": "Observation: # _ X P #"},
    ]))
    for c in cases:
        c["text"] = tok.apply_chat_template(c["messages"], tokenize=False,
                                            add_generation_prompt=True, enable_thinking=False)
        ids = tok.apply_chat_template(c["messages"], tokenize=True,
                                      add_generation_prompt=True, enable_thinking=False)
        c["ids"] = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    os.makedirs(os.path.join(out, "chat"), exist_ok=True)
    write_json(os.path.join(out, "chat", "prompts.json"), {"versions": versions(), "cases": cases})
    print(json.dumps({"chat_cases": len(cases)}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="step", required=True)
    m = sub.add_parser("models")
    m.add_argument("out")
    m.add_argument("exports")
    m.add_argument("--big", action="store_true")
    r = sub.add_parser("record")
    r.add_argument("out")
    r.add_argument("exports")
    r.add_argument("--bf16-spread", action="store_true")
    c = sub.add_parser("chat")
    c.add_argument("out")
    c.add_argument("host")
    c.add_argument("plugins")
    c.add_argument("tokenizer_dir")
    a = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if a.step == "models":
        models_step(a.out, a.exports, a.big)
    elif a.step == "record":
        record_step(a.out, a.exports, a.bf16_spread)
    else:
        chat_step(a.out, a.host, a.plugins, a.tokenizer_dir)


if __name__ == "__main__":
    main()
