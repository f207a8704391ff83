"""Reads a distro checkpoint with the independent `safetensors` package and
numpy: names, shapes and dtypes against the model config in the metadata,
the optimizer state, and the values against the parameter hash and the
state group checksums the writer recorded (recomputed here with hashlib)."""
import hashlib
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

# The writer's hashes, recomputed from the values (docs/DESIGN.md, "the
# parameter hash"): BLAKE2b-256 over the weights as little-endian fp32 in
# layout order, carried as its first 8 bytes read little-endian; each
# optimizer state group's full digest under "sum.<prefix>".
def blake2b(tensor_names):
    h = hashlib.blake2b(digest_size=32)
    for n in tensor_names:
        h.update(tensors[n].astype("<f4").tobytes())
    return h.digest()


assert meta["hash"] == "blake2b-256/64", meta.get("hash")
h = int.from_bytes(blake2b(names)[:8], "little")
assert f"{h:016x}" == meta["param_hash"], (f"{h:016x}", meta["param_hash"])
for p in prefixes:
    want = meta["sum." + p[:-1]]
    assert blake2b([p + n for n in names]).hex() == want, (p, want)
print(f"{path}: {len(tensors)} tensors, step {meta['step']}, hash {meta['param_hash']} verified")
