"""Independent cross-check of distro's safetensors files, driven by
tests/model/test_safetensors_python.c, using the reference Python
`safetensors` package and numpy.

  read_safetensors.py check FILE   verify the file the C test wrote
  read_safetensors.py write FILE   write a file for the C reader to verify

The expected contents are defined twice on purpose, here and in the C test,
from the same simple formulas; exits 0 when everything matches."""

import json
import struct
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file


def lcg_bits(seed, n):
    """The C test's generator: x = x * 1664525 + 1013904223 (mod 2^32)."""
    out, x = [], seed
    for _ in range(n):
        x = (x * 1664525 + 1013904223) & 0xFFFFFFFF
        out.append(x)
    return np.array(out, dtype=np.uint32)


def expected_from_c():
    i35 = np.arange(35)
    return {
        "tok_embedding": (((i35 * 37) % 101) / 64.0 - 0.75).astype(np.float32).reshape(7, 5),
        "layers.0.attn_norm": (1.0 + np.arange(5) / 8.0).astype(np.float32),
        "bits": lcg_bits(12345, 72).view(np.float32).reshape(3, 4, 6),
        "scalar": np.array(3.25, dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "four_d": (-np.arange(12, dtype=np.float32)).reshape(2, 3, 1, 2),
    }


EXPECTED_ORDER = ["tok_embedding", "layers.0.attn_norm", "bits", "scalar", "empty", "four_d"]
EXPECTED_META = {
    "config": '{"dim": 128, "name": "tiny \\"quoted\\""}',
    "step": "1234",
    "optimizer": "demo",
    "unicode": "h\u00e9llo \u2713",
}


def check(path):
    errors = []
    tensors = load_file(path)
    want = expected_from_c()
    if set(tensors) != set(want):
        errors.append(f"names {sorted(tensors)} != {sorted(want)}")
    for name, w in want.items():
        got = tensors.get(name)
        if got is None:
            continue
        if got.dtype != np.float32:
            errors.append(f"{name}: dtype {got.dtype}")
        if got.shape != w.shape:
            errors.append(f"{name}: shape {got.shape} != {w.shape}")
        elif not np.array_equal(got.view(np.uint32), w.view(np.uint32)):
            bad = np.flatnonzero(got.view(np.uint32).ravel() != w.view(np.uint32).ravel())
            errors.append(f"{name}: {bad.size} values differ, first at flat index {bad[0]}")

    with safe_open(path, framework="np") as f:
        meta = f.metadata()
    if meta != EXPECTED_META:
        errors.append(f"metadata {meta!r} != {EXPECTED_META!r}")

    # Layout facts the reference reader tolerates but distro promises:
    # space padding to 8 bytes and data in the order the tensors were given.
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = fh.read(n)
    if n % 8 != 0:
        errors.append(f"header length {n} is not a multiple of 8")
    entries = {k: v for k, v in json.loads(header).items() if k != "__metadata__"}
    by_offset = sorted(entries, key=lambda k: (entries[k]["data_offsets"][0], EXPECTED_ORDER.index(k)))
    if by_offset != EXPECTED_ORDER:
        errors.append(f"data order {by_offset} != {EXPECTED_ORDER}")

    for e in errors:
        print("read_safetensors.py: " + e)
    if not errors:
        print(f"read_safetensors.py: {len(tensors)} tensors and {len(meta)} metadata entries match")
    return 1 if errors else 0


def write(path):
    save_file(
        {
            "py.a": (np.arange(12, dtype=np.float32) / 4).reshape(3, 4),
            "py.bits": lcg_bits(777, 8).view(np.float32).reshape(2, 2, 2),
            "py.scalar": np.array(-1.5, dtype=np.float32),
        },
        path,
        metadata={"writer": "python", "n": "3"},
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("check", "write"):
        print(__doc__)
        sys.exit(2)
    sys.exit(check(sys.argv[2]) if sys.argv[1] == "check" else write(sys.argv[2]))
