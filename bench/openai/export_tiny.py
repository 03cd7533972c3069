"""Export lamer's built-in tiny model directory in the form Hugging Face
servers (`transformers serve`, vLLM) load: the same config, weights and
tokenizer, plus the two files they need and the tiny directory lacks —
`tokenizer_config.json` (a chat template that renders exactly what lamer's own
Qwen3 no-thinking template renders, and the end-of-turn token) and
`generation_config.json` (generation stops on <|im_end|> or <|endoftext|>, as
in lamer). The weights are linked, not changed.

usage: python export_tiny.py TINY_DIR OUT_DIR
"""

import json
import os
import shutil
import sys

# Mirrors host/policy/src/chat.rs: user/system/assistant turns, then the
# assistant prompt with an empty think block (Qwen3 with thinking off).
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
)


def main(src: str, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    for name in ("config.json", "tokenizer.json"):
        shutil.copyfile(os.path.join(src, name), os.path.join(out, name))
    weights = os.path.join(out, "model.safetensors")
    if os.path.lexists(weights):
        os.remove(weights)
    os.symlink(os.path.abspath(os.path.join(src, "model.safetensors")), weights)
    with open(os.path.join(src, "tokenizer.json")) as f:
        added = {t["content"]: t["id"] for t in json.load(f)["added_tokens"]}
    im_end, eot = added["<|im_end|>"], added["<|endoftext|>"]
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "chat_template": CHAT_TEMPLATE,
                "eos_token": "<|im_end|>",
                "pad_token": "<|endoftext|>",
                "bos_token": None,
                "add_bos_token": False,
                "model_max_length": 4096,
            },
            f,
            indent=2,
        )
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump(
            {"eos_token_id": [im_end, eot], "pad_token_id": eot, "do_sample": True},
            f,
            indent=2,
        )
    print(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
