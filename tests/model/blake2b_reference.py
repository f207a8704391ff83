"""The independent side of test_param_hash: recomputes distro's hashes with
Python's hashlib (standard library only) and exits 1 on any difference.

  blake2b_reference.py raw FILE HEX64 PREFIX16
      FILE holds the weights as little-endian fp32 in layout order; its
      BLAKE2b-256 must be HEX64 and the digest's first 8 bytes, read
      little-endian, must be PREFIX16 (the parameter hash).
  blake2b_reference.py checkpoint FILE
      A distro safetensors checkpoint: "hash" is blake2b-256/64, the
      weights' bytes hash to "param_hash" and every optimizer state group
      "<prefix>.*" to its "sum.<prefix>" (the group's tensors in file order).
"""
import hashlib
import json
import struct
import sys


def blake2b(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def prefix64(digest):
    return f"{int.from_bytes(digest[:8], 'little'):016x}"


def check(what, have, want):
    if have != want:
        print(f"MISMATCH {what}: python computes {have}, distro says {want}")
        sys.exit(1)
    print(f"ok {what}: {have}")


def raw(path, want_hex, want_prefix):
    digest = blake2b(open(path, "rb").read())
    check("blake2b-256", digest.hex(), want_hex)
    check("64-bit prefix", prefix64(digest), want_prefix)


def checkpoint(path):
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    meta = header.pop("__metadata__")
    data = blob[8 + n :]
    check("hash algorithm", meta.get("hash"), "blake2b-256/64")
    prefixes = sorted((k[4:] for k in meta if k.startswith("sum.")), key=len, reverse=True)
    groups = {}
    for name, entry in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        group = next((p for p in prefixes if name.startswith(p + ".")), None)
        begin, end = entry["data_offsets"]
        groups.setdefault(group, bytearray()).extend(data[begin:end])
    check("param_hash", prefix64(blake2b(bytes(groups.pop(None)))), meta["param_hash"])
    for p in prefixes:
        check(f"sum.{p}", blake2b(bytes(groups.pop(p, b""))).hex(), meta[f"sum.{p}"])
    if not prefixes:
        print("MISMATCH: the checkpoint records no state group checksums")
        sys.exit(1)


if sys.argv[1] == "raw":
    raw(*sys.argv[2:5])
else:
    checkpoint(sys.argv[2])
