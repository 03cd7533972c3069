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
"""

import argparse
import time

import torch
from transformers import AutoModelForCausalLM


def prompts(rows, length, vocab):
    return torch.tensor(
        [[(i * 31 + r * 7 + 1) % vocab for i in range(length)] for r in range(rows)],
        dtype=torch.long,
    )


def best_of(repeats, fn):
    fn()  # warm-up: first calls pay for allocation and kernel selection
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


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
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(
        args.model, dtype=torch.float32, attn_implementation="sdpa"
    )
    model.eval()
    vocab = model.config.vocab_size
    length = args.prompt_len
    print(f"torch {torch.__version__}, {args.threads} threads")
    for b in [int(x) for x in args.batch.split(",")]:
        ids = prompts(b, length, vocab)
        mask = torch.ones_like(ids)
        with torch.inference_mode():
            def prefill():
                out = model(input_ids=ids, attention_mask=mask, use_cache=True, logits_to_keep=1)
                out.logits.max().item()

            t = best_of(args.repeats, prefill)
            print(f"prefill, batch {b} × {length} tokens: {b * length / t:.2f} tok/s")

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
            t1 = best_of(args.repeats, lambda: gen(1))
            tn = best_of(args.repeats, lambda: gen(n + 1))
            print(f"decode, batch {b}: {b * n / max(tn - t1, 1e-9):.2f} tok/s")

    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6, weight_decay=0.01)
    rows = prompts(args.train_rows, args.train_prompt_len, vocab)
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

    t = best_of(args.repeats, step)
    print(
        f"train micro-step (full), {args.train_rows} rows × ({p}+{s}) tokens: "
        f"{t * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
