"""Record what a real OpenAI-compatible server answers to the requests
lamer's backend sends, as JSON fixtures the Rust replay tests serve back
(host/openai/tests/replay.rs). Regenerate with bench/openai/live.sh --record.

usage: python record_fixtures.py BASE_URL MODEL OUT_DIR
"""

import json
import os
import sys
import urllib.error
import urllib.request

PROMPT = (
    "You are an expert agent operating in the Sokoban game.\n"
    "Your current observation is:\n#####\n#P_X#\n#_O_#\n#####\n"
    "Answer with <action>up|down|left|right</action>."
)


def exchange(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def chat(model, **extra):
    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 24,
        "temperature": 0.7,
        "top_p": 0.8,
        "seed": 7,
    }
    body.update(extra)
    return body


def main(base, model, out):
    os.makedirs(out, exist_ok=True)
    cases = {
        "models": ("GET", "/models", None),
        "chat": ("POST", "/chat/completions", chat(model)),
        "chat_greedy": ("POST", "/chat/completions", chat(model, temperature=0.0, max_tokens=8)),
        "chat_probe": ("POST", "/chat/completions", chat(model, max_tokens=1)),
        "chat_wrong_model": ("POST", "/chat/completions", chat("no-such-model", max_tokens=1)),
        "chat_top_k": ("POST", "/chat/completions", chat(model, top_k=20, max_tokens=1)),
        "completions_token_ids": (
            "POST",
            "/completions",
            {"model": model, "prompt": [1, 2, 3], "max_tokens": 1, "logprobs": 1,
             "return_tokens_as_token_ids": True},
        ),
    }
    for name, (method, path, body) in cases.items():
        status, text = exchange(base, method, path, body)
        fixture = {"request": {"method": method, "path": path, "body": body},
                   "status": status, "body": text}
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(fixture, f, indent=2)
            f.write("\n")
        print(f"{name}: HTTP {status}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
