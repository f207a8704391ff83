"""PyTorch eager fp32 reference for scripts/gpu-check.sh: the same model as a
distro preset (RMSNorm, interleaved-pair RoPE, SwiGLU, causal attention,
tied or untied head), AdamW at batch 1 over the preset's full context, on
cuda:0 with TF32 off. Prints tokens_per_s=N (steps after the first)."""
import sys
import time

import torch
import torch.nn.functional as F

PRESETS = {  # vocab, dim, layers, heads, ffn, seq_len, tied (model/config.c)
    "gpt2-small-like": (50257, 768, 12, 12, 2048, 1024, True),
    "llama-1b": (32000, 2048, 16, 8, 8192, 2048, False),
}


class RMSNorm(torch.nn.Module):
    """torch.nn.RMSNorm needs torch >= 2.4; this is the same for older ones."""

    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Block(torch.nn.Module):
    def __init__(self, dim, heads, ffn):
        super().__init__()
        self.heads = heads
        self.n1 = RMSNorm(dim, eps=1e-5)
        self.n2 = RMSNorm(dim, eps=1e-5)
        self.wqkv = torch.nn.Linear(dim, 3 * dim, bias=False)
        self.wo = torch.nn.Linear(dim, dim, bias=False)
        self.w13 = torch.nn.Linear(dim, 2 * ffn, bias=False)
        self.w2 = torch.nn.Linear(ffn, dim, bias=False)

    def forward(self, x, cos, sin):
        b, t, d = x.shape
        q, k, v = self.wqkv(self.n1(x)).split(d, dim=-1)
        shape = (b, t, self.heads, d // self.heads)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.wo(a.transpose(1, 2).reshape(b, t, d))
        g, u = self.w13(self.n2(x)).chunk(2, dim=-1)
        return x + self.w2(F.silu(g) * u)


def rope(x, cos, sin):
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


def main():
    vocab, dim, layers, heads, ffn, seq, tied = PRESETS[sys.argv[1]]
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda:0")
    emb = torch.nn.Embedding(vocab, dim).to(dev)
    # N(0, 0.02) as in distro's init: PyTorch's N(0, 1) makes a tied head's
    # logits ~30 wide and the printed loss hundreds (the speed is the same).
    torch.nn.init.normal_(emb.weight, std=0.02)
    blocks = torch.nn.ModuleList(Block(dim, heads, ffn) for _ in range(layers)).to(dev)
    norm = RMSNorm(dim, eps=1e-5).to(dev)
    head = None if tied else torch.nn.Linear(dim, vocab, bias=False).to(dev)
    params = list(emb.parameters()) + list(blocks.parameters()) + list(norm.parameters())
    params += [] if tied else list(head.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4, foreach=True)
    hd = dim // heads
    ang = torch.arange(seq, device=dev)[:, None] * 10000.0 ** (
        -torch.arange(0, hd, 2, device=dev) / hd)
    cos, sin = ang.cos(), ang.sin()
    steps, times = 4, []
    for _ in range(steps):
        toks = torch.randint(0, vocab, (1, seq + 1), device=dev)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        x = emb(toks[:, :-1])
        for blk in blocks:
            x = blk(x, cos, sin)
        x = norm(x)
        logits = x @ emb.weight.t() if tied else head(x)
        loss = F.cross_entropy(logits.view(-1, vocab), toks[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    tps = seq * (steps - 1) / sum(times[1:])
    mem = torch.cuda.max_memory_allocated() / 2**20
    print(f"{sys.argv[1]}: loss {loss.item():.3f}, peak memory {mem:.0f} MiB, tokens_per_s={tps:.1f}")


if __name__ == "__main__":
    main()
