#!/usr/bin/env python3
"""Times training steps of distro's transformer in PyTorch on the CPU.

The same architecture and step as `distro-cli train --optimizer adamw`:
token embedding, per layer RMSNorm -> fused QKV -> RoPE (interleaved pairs)
-> causal attention -> output projection, RMSNorm -> fused SwiGLU (w1|w3) ->
w2, residuals; final RMSNorm, LM head tied to the embedding (unless
--untied), mean cross-entropy, backward, global gradient-norm clip at 1.0,
AdamW. No biases, fp32 throughout. Only the timing is compared, so the
weights and tokens are random.

Prints one JSON line: {"mode", "tokens_per_s", "step_ms", "steps", ...}.
Used by bench/cpu_vs_pytorch.sh; never a dependency of distro.
"""
import argparse
import json
import math
import os
import sys
import time


def build(torch, args):
    nn = torch.nn
    F = torch.nn.functional
    hd = args.dim // args.heads

    class RMSNorm(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.w = nn.Parameter(torch.ones(d))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.w

    # cos/sin per position and pair, as distro's rope table.
    inv = 1.0 / (args.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.outer(torch.arange(args.seq, dtype=torch.float64), inv)
    cos, sin = ang.cos().float(), ang.sin().float()

    def rope(x):  # x: [B, H, T, hd], pairs (2i, 2i+1) rotate together
        xp = x.unflatten(-1, (hd // 2, 2))
        a, b = xp[..., 0], xp[..., 1]
        return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.n1 = RMSNorm(args.dim)
            self.wqkv = nn.Linear(args.dim, 3 * args.dim, bias=False)
            self.wo = nn.Linear(args.dim, args.dim, bias=False)
            self.n2 = RMSNorm(args.dim)
            self.w13 = nn.Linear(args.dim, 2 * args.ffn, bias=False)
            self.w2 = nn.Linear(args.ffn, args.dim, bias=False)

        def forward(self, x):
            B, T, D = x.shape
            q, k, v = self.wqkv(self.n1(x)).split(D, dim=-1)
            q, k, v = (t.view(B, T, args.heads, hd).transpose(1, 2) for t in (q, k, v))
            a = F.scaled_dot_product_attention(rope(q), rope(k), v, is_causal=True)
            x = x + self.wo(a.transpose(1, 2).reshape(B, T, D))
            h1, h3 = self.w13(self.n2(x)).split(args.ffn, dim=-1)
            return x + self.w2(F.silu(h1) * h3)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(args.vocab, args.dim)
            self.blocks = nn.ModuleList(Block() for _ in range(args.layers))
            self.nf = RMSNorm(args.dim)
            self.head = nn.Linear(args.dim, args.vocab, bias=False)
            if not args.untied:
                self.head.weight = self.emb.weight

        def forward(self, tok, tgt):
            x = self.emb(tok)
            for b in self.blocks:
                x = b(x)
            logits = self.head(self.nf(x))
            return F.cross_entropy(logits.reshape(-1, args.vocab), tgt.reshape(-1))

    return Model()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in [("vocab", 256), ("dim", 384), ("layers", 6), ("heads", 6),
                          ("ffn", 1024), ("seq", 256), ("batch", 8), ("steps", 5),
                          ("warmup", 2), ("threads", 2)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--rope-theta", type=float, default=10000.0)
    p.add_argument("--untied", action="store_true")
    p.add_argument("--mode", choices=["eager", "compile"], default="eager")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(1337)
    model = build(torch, args)
    with torch.no_grad():
        for name, prm in model.named_parameters():
            if prm.dim() > 1:
                prm.normal_(0.0, 0.02)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)

    # The model's forward is compiled in "compile" mode (backward through
    # AOTAutograd); the optimizer step stays eager, as in most compiled
    # training loops.
    forward = torch.compile(model) if args.mode == "compile" else model

    def fwd_bwd(tok, tgt):
        loss = forward(tok, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    g = torch.Generator().manual_seed(1)
    hi = min(args.vocab, 256)
    data = [torch.randint(0, hi, (args.batch, args.seq + 1), generator=g).contiguous()
            for _ in range(args.warmup + args.steps)]
    t_first = time.perf_counter()
    for i in range(args.warmup):
        fwd_bwd(data[i][:, :-1], data[i][:, 1:])
    t0 = time.perf_counter()
    for i in range(args.warmup, args.warmup + args.steps):
        loss = fwd_bwd(data[i][:, :-1], data[i][:, 1:])
    secs = time.perf_counter() - t0
    tokens = args.batch * args.seq * args.steps
    print(json.dumps({
        "mode": args.mode, "tokens_per_s": round(tokens / secs, 1),
        "step_ms": round(1000 * secs / args.steps, 1), "steps": args.steps,
        "warmup_s": round(t0 - t_first, 1), "loss": round(float(loss.detach()), 4),
        "threads": torch.get_num_threads(), "torch": torch.__version__,
    }))
    return 0 if math.isfinite(float(loss.detach())) else 1


if __name__ == "__main__":
    sys.exit(main())
