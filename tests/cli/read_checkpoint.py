"""Reads a distro checkpoint with the independent `safetensors` package and
numpy: names, shapes and dtypes against the model config in the metadata,
the optimizer state, and the values against the parameter hash the writer
recorded (recomputed here from the bits)."""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

path, optimizer = sys.argv[1], sys.argv[2]
tensors = load_file(path)
with safe_open(path, framework="numpy") as f:
    meta = f.metadata()

assert meta["format"] == "distro-checkpoint-1", meta
assert meta["optimizer"] == optimizer, meta["optimizer"]
assert int(meta["step"]) == 3, meta["step"]
c = json.loads(meta["config"])
d, f_, v = c["dim"], c["ffn_dim"], c["vocab_size"]

expected = [("tok_emb", (v, d))]
for i in range(c["n_layers"]):
    expected += [(f"layers.{i}.attn_norm", (d,)), (f"layers.{i}.wqkv", (3 * d, d)),
                 (f"layers.{i}.wo", (d, d)), (f"layers.{i}.mlp_norm", (d,)),
                 (f"layers.{i}.w13", (2 * f_, d)), (f"layers.{i}.w2", (d, f_))]
expected.append(("final_norm", (d,)))
if not c["tie_embeddings"]:
    expected.append(("lm_head", (v, d)))

prefixes = {"adamw": ["adamw.m.", "adamw.v."], "demo": ["demo.momentum."]}[optimizer]
names = [n for n, _ in expected]
want = set(names) | {p + n for p in prefixes for n in names}
assert set(tensors) == want, sorted(set(tensors) ^ want)
for name, shape in expected:
    for full in [name] + [p + name for p in prefixes]:
        t = tensors[full]
        assert t.dtype == np.float32 and t.shape == shape, (full, t.dtype, t.shape)
        assert np.isfinite(t).all(), full
# Norm weights start at 1 and have moved a little after 3 steps.
assert abs(float(tensors["final_norm"].mean()) - 1.0) < 0.1

# The writer's parameter hash, recomputed from the bits (model/model.c).
M = (1 << 64) - 1
K1, K2 = 0x87C37B91114253D5, 0x4CF5AD432745937F


def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M


h = 0x9E3779B97F4A7C15 ^ len(names)
for name in names:
    bits = tensors[name].reshape(-1).view(np.uint32).astype(np.uint64)
    n = bits.size
    h = (rotl(h ^ ((n * K1) & M), 27) * K2) & M
    if n % 2:
        bits = np.append(bits, np.uint64(0))
    words = (bits[0::2] | (bits[1::2] << np.uint64(32))).tolist()
    for w in words:
        h ^= (rotl((w * K1) & M, 31) * K2) & M
        h = (rotl(h, 27) * 5 + 0x52DCE729) & M
h ^= h >> 33
h = (h * 0xFF51AFD7ED558CCD) & M
h ^= h >> 33
h = (h * 0xC4CEB9FE1A85EC53) & M
h ^= h >> 33
assert f"{h:016x}" == meta["param_hash"], (f"{h:016x}", meta["param_hash"])
print(f"{path}: {len(tensors)} tensors, step {meta['step']}, hash {meta['param_hash']} verified")
