"""The policy benchmark of lamer-policy's `bench` example, in PyTorch +
transformers, on the same weights (a Hugging Face model directory).

Prints one line per figure, `name: value unit`, with the names the Rust
bench uses, so that side-by-side.sh can pair them:
- prefill, batch B × L tokens: one forward over B×L prompt tokens with the
  KV cache filled and only the last position's logits (as ours);
- decode, batch B: generate(n + 1) − generate(1) tokens, greedy, never
  stopping early (as ours);
- train micro-step (full): forward over R × (P + S) tokens, log-probs of the
  S response tokens, backward, grad-norm clip and an AdamW step (as ours).

On a GPU (`--device cuda --dtype bf16`) every timed call ends with a
synchronize, and each figure carries the device's peak allocated memory
(torch.cuda.max_memory_allocated, reset before it). `--json FILE` also writes
the figures as one JSON object, rewritten after each figure
(scripts/gpu-check.sh reads it);
`--train none` skips the training step.
"""

import argparse
import json
import time

import torch
from transformers import AutoModelForCausalLM


def prompts(rows, length, vocab):
    return torch.tensor(
        [[(i * 31 + r * 7 + 1) % vocab for i in range(length)] for r in range(rows)],
        dtype=torch.long,
    )


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_of(repeats, fn, device):
    fn()  # warm-up: first calls pay for allocation and kernel selection
    sync(device)
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        sync(device)  # CUDA calls return before the kernels finish
        best = min(best, time.perf_counter() - start)
    return best


DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", default="1,32,128")
    ap.add_argument("--prompt-len", type=int, default=256)
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--train-rows", type=int, default=4)
    ap.add_argument("--train-prompt-len", type=int, default=256)
    ap.add_argument("--train-response-len", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--dtype", default="f32", choices=sorted(DTYPES))
    ap.add_argument("--train", default="full", choices=["full", "none"])
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    model = AutoModelForCausalLM.from_pretrained(
        args.model, dtype=DTYPES[args.dtype], attn_implementation="sdpa"
    ).to(device)
    model.eval()
    vocab = model.config.vocab_size
    length = args.prompt_len
    print(f"torch {torch.__version__}, {args.threads} threads, {device}, {args.dtype}", flush=True)
    figures = []

    def emit(name, value, unit):
        peak = None
        if cuda:
            peak = torch.cuda.max_memory_allocated(device) / 2**20
            torch.cuda.reset_peak_memory_stats(device)
        figures.append({"name": name, "value": value, "unit": unit, "gpu_peak_mib": peak})
        print(f"{name}: {value:.2f} {unit}", flush=True)
        # Rewritten after every figure: a run stopped by a timeout keeps them.
        finish(args, figures, device)

    for b in [int(x) for x in args.batch.split(",")]:
        ids = prompts(b, length, vocab).to(device)
        mask = torch.ones_like(ids)
        with torch.inference_mode():
            def prefill():
                out = model(input_ids=ids, attention_mask=mask, use_cache=True, logits_to_keep=1)
                out.logits.max().item()

            t = best_of(args.repeats, prefill, device)
            emit(f"prefill, batch {b} × {length} tokens", b * length / t, "tok/s")

            def gen(steps):
                model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    max_new_tokens=steps,
                    min_new_tokens=steps,
                    do_sample=False,
                    pad_token_id=0,
                )

            n = args.decode_tokens
            t1 = best_of(args.repeats, lambda: gen(1), device)
            tn = best_of(args.repeats, lambda: gen(n + 1), device)
            emit(f"decode, batch {b}", b * n / max(tn - t1, 1e-9), "tok/s")

    if args.train == "none":
        return
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6, weight_decay=0.01)
    rows = prompts(args.train_rows, args.train_prompt_len, vocab).to(device)
    resp = rows[:, : args.train_response_len]
    seq = torch.cat([rows, resp], dim=1)
    p = args.train_prompt_len
    s = args.train_response_len

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(input_ids=seq).logits[:, p - 1 : p - 1 + s].float()
        lp = torch.log_softmax(logits, dim=-1).gather(-1, resp.unsqueeze(-1)).squeeze(-1)
        loss = -lp.sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    t = best_of(args.repeats, step, device)
    emit(f"train micro-step (full), {args.train_rows} rows × ({p}+{s}) tokens", t * 1000, "ms")


def finish(args, figures, device):
    if not args.json:
        return
    import transformers

    out = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": str(device),
        "dtype": args.dtype,
        "measurements": figures,
    }
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
