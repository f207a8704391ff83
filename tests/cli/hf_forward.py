"""Checks a folder written by `distro-cli export --format hf` with a forward
pass written independently in numpy in Hugging Face's Llama convention
(rotate_half RoPE over (x[i], x[i + head_dim/2]), gate/up/down MLP, tied or
separate lm_head), reading nothing but the folder: config.json and
model.safetensors through the safetensors package's numpy API.

  hf_forward.py OUT_DIR CLI CHECKPOINT

For each prompt, its next-token logits must match `CLI sample --logits`
within a tolerance, and greedy text must equal `CLI sample --temperature 0`.
If transformers and torch import, LlamaForCausalLM loads the folder and its
logits are compared too; otherwise that part says it was skipped."""
import json
import os
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file

out_dir, cli, checkpoint = sys.argv[1], sys.argv[2], sys.argv[3]
PROMPTS = ["ROMEO:", "First Citizen:\nBefore we proceed", "\n",
           # longer than tiny's seq_len of 32: the window slides
           "KING RICHARD III:\nNow is the winter of our discontent made glorious"]
GREEDY_TOKENS = 48
ATOL, RTOL = 2e-4, 1e-4

cfg = json.load(open(os.path.join(out_dir, "config.json")))
W = {k: v.astype(np.float64) for k, v in load_file(os.path.join(out_dir, "model.safetensors")).items()}
assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["model_type"] == "llama", cfg
assert cfg["hidden_act"] == "silu" and not cfg["attention_bias"] and not cfg["mlp_bias"], cfg
D, H, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
assert cfg["num_key_value_heads"] == H
HD, V, CTX = D // H, cfg["vocab_size"], cfg["max_position_embeddings"]
EPS, THETA = cfg["rms_norm_eps"], cfg["rope_theta"]
assert cfg["vocab_size"] == 256, "the test's prompts are bytes: a byte-level model only"

expected = {"model.embed_tokens.weight", "model.norm.weight"}
for i in range(L):
    p = f"model.layers.{i}."
    expected |= {p + "input_layernorm.weight", p + "post_attention_layernorm.weight"}
    expected |= {p + f"self_attn.{x}_proj.weight" for x in "qkvo"}
    expected |= {p + f"mlp.{x}_proj.weight" for x in ("gate", "up", "down")}
if not cfg["tie_word_embeddings"]:
    expected.add("lm_head.weight")
assert set(W) == expected, sorted(set(W) ^ expected)
head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]


def rms_norm(x, w):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS) * w


def rotate_half(x):
    return np.concatenate([-x[..., HD // 2:], x[..., :HD // 2]], axis=-1)


def rope(x, T):
    # Hugging Face's LlamaRotaryEmbedding: inv_freq over even indices,
    # angles repeated for both halves, x * cos + rotate_half(x) * sin.
    inv_freq = 1.0 / THETA ** (np.arange(0, HD, 2, dtype=np.float64) / HD)
    ang = np.outer(np.arange(T, dtype=np.float64), inv_freq)
    emb = np.concatenate([ang, ang], axis=-1)  # [T, HD]
    return x * np.cos(emb)[None] + rotate_half(x) * np.sin(emb)[None]


def forward(ids):
    """Logits [T, V] of a sequence of T <= CTX token ids."""
    T = len(ids)
    x = W["model.embed_tokens.weight"][ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(L):
        p = f"model.layers.{i}."
        h = rms_norm(x, W[p + "input_layernorm.weight"])
        q, k, v = (h @ W[p + f"self_attn.{n}_proj.weight"].T for n in "qkv")
        q, k, v = (t.reshape(T, H, HD).transpose(1, 0, 2) for t in (q, k, v))  # [H, T, HD]
        q, k = rope(q, T), rope(k, T)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(HD) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        a = (s / s.sum(-1, keepdims=True)) @ v
        x = x + a.transpose(1, 0, 2).reshape(T, D) @ W[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"])
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (g / (1.0 + np.exp(-g)) * u) @ W[p + "mlp.down_proj.weight"].T
    return rms_norm(x, W["model.norm.weight"]) @ head.T


def run(*args):
    r = subprocess.run([cli, "sample", "--checkpoint", checkpoint, "--device", "cpu", *args],
                       capture_output=True)
    if r.returncode:
        sys.exit(f"FAIL: distro-cli sample {' '.join(args)} exited {r.returncode}: "
                 f"{r.stderr.decode(errors='replace')}")
    return r.stdout


def cli_logits(prompt):
    rows = [line.split() for line in run("--prompt", prompt, "--logits").decode().splitlines()]
    assert [int(r[0]) for r in rows] == list(range(V)), "sample --logits: not one line per id"
    return np.array([float(r[1]) for r in rows])


def ids_of(prompt):
    return list(prompt.encode())[-CTX:]  # the same window sample keeps


worst = 0.0
for prompt in PROMPTS:
    want = cli_logits(prompt)
    have = forward(ids_of(prompt))[-1]
    err = np.abs(have - want)
    worst = max(worst, float((err / (ATOL + RTOL * np.abs(want))).max()))
    if not np.allclose(have, want, atol=ATOL, rtol=RTOL):
        j = int(err.argmax())
        sys.exit(f"FAIL: logits after {prompt!r}: numpy {have[j]:.6g}, distro-cli {want[j]:.6g} "
                 f"at token {j} (max |diff| {err.max():.3g}; spread of logits "
                 f"{want.max() - want.min():.3g})")
print(f"logits of {len(PROMPTS)} prompts match distro-cli "
      f"(worst |diff| = {worst:.3f} of the tolerance {ATOL} + {RTOL}*|logit|)")

for prompt in PROMPTS[:2]:
    ids = list(prompt.encode())
    margins = []
    for _ in range(GREEDY_TOKENS):
        logits = forward(ids[-CTX:])[-1]
        top2 = np.sort(logits)[-2:]
        margins.append(top2[1] - top2[0])
        ids.append(int(np.argmax(logits)))  # ties to the lower id, as sample does
    mine = bytes(ids)
    theirs = run("--prompt", prompt, "--temperature", "0", "--tokens", str(GREEDY_TOKENS))
    if theirs != mine + b"\n":
        n = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), len(mine))
        sys.exit(f"FAIL: greedy text after {prompt!r} differs at byte {n}:\n"
                 f"  numpy:      {mine!r}\n  distro-cli: {theirs!r}\n"
                 f"  (numpy's top-2 margin there: {margins[max(0, n - len(prompt.encode()))]:.3g})")
    print(f"greedy {GREEDY_TOKENS} tokens after {prompt!r} match: {mine[len(prompt):]!r}")

try:
    import torch
    from transformers import LlamaForCausalLM
except ImportError as e:
    print(f"transformers check skipped: {e.name} is not importable "
          "(the numpy forward above is the check)")
else:
    model = LlamaForCausalLM.from_pretrained(out_dir, torch_dtype=torch.float32).eval()
    for prompt in PROMPTS:
        with torch.no_grad():
            got = model(torch.tensor([ids_of(prompt)])).logits[0, -1].double().numpy()
        want = cli_logits(prompt)
        if not np.allclose(got, want, atol=ATOL, rtol=RTOL):
            sys.exit(f"FAIL: LlamaForCausalLM logits after {prompt!r} differ from distro-cli's "
                     f"by up to {np.abs(got - want).max():.3g}")
    print(f"LlamaForCausalLM logits of {len(PROMPTS)} prompts match distro-cli")
print("PASS: the exported folder computes what distro-cli computes")
