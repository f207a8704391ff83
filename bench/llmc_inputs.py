#!/usr/bin/env python3
"""Writes the files llm.c's CPU trainer (train_gpt2.c) opens, for timing only.

train_gpt2.c starts from a GPT-2 124M checkpoint made by its Python script
from Hugging Face's weights, and trains on tokenized Tiny Shakespeare; the
benchmark machine may reach neither, and only the time per step matters, so
this writes both from what is at hand, in the formats llm.c documents:

  gpt2_124M.bin: 256 int32 header (magic 20240326, version 3, max_seq_len,
      vocab_size, num_layers, num_heads, channels, padded_vocab_size), then
      the fp32 parameters in llm.c's order (wte, wpe, ln1w, ln1b, qkvw, qkvb,
      attprojw, attprojb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb, lnfw,
      lnfb), here random normal(0, 0.02) matrices, unit norms, zero biases;
  dev/data/tinyshakespeare/tiny_shakespeare_{train,val}.bin: 256 int32
      header (magic 20240520, version 1, token count), then uint16 tokens,
      here the bytes of a text file (valid GPT-2 token ids, all < 256).

Usage: llmc_inputs.py LLMC_DIR TEXT_FILE
"""
import os
import sys

import numpy as np


def write_checkpoint(path, max_t=1024, vocab=50257, layers=12, heads=12, c=768, vp=50304):
    header = np.zeros(256, dtype=np.int32)
    header[:8] = [20240326, 3, max_t, vocab, layers, heads, c, vp]
    rng = np.random.default_rng(1337)
    L = layers
    # (count, kind): kind n = normal(0, 0.02), 1 = ones, 0 = zeros
    tensors = [(vp * c, "n"), (max_t * c, "n"), (L * c, "1"), (L * c, "0"),
               (L * 3 * c * c, "n"), (L * 3 * c, "0"), (L * c * c, "n"), (L * c, "0"),
               (L * c, "1"), (L * c, "0"), (L * 4 * c * c, "n"), (L * 4 * c, "0"),
               (L * c * 4 * c, "n"), (L * c, "0"), (c, "1"), (c, "0")]
    with open(path + ".tmp", "wb") as f:
        f.write(header.tobytes())
        for count, kind in tensors:
            if kind == "n":
                # In slices: the biggest tensor is 38M floats.
                for lo in range(0, count, 1 << 22):
                    n = min(1 << 22, count - lo)
                    f.write((rng.standard_normal(n, dtype=np.float32) * 0.02).tobytes())
            else:
                f.write(np.full(count, 1.0 if kind == "1" else 0.0, dtype=np.float32).tobytes())
    os.replace(path + ".tmp", path)


def write_tokens(path, tokens):
    header = np.zeros(256, dtype=np.int32)
    header[:3] = [20240520, 1, len(tokens)]
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(tokens.astype(np.uint16).tobytes())


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    root, text = sys.argv[1], sys.argv[2]
    ck = os.path.join(root, "gpt2_124M.bin")
    if not os.path.exists(ck):
        write_checkpoint(ck)
    data = os.path.join(root, "dev", "data", "tinyshakespeare")
    os.makedirs(data, exist_ok=True)
    tokens = np.frombuffer(open(text, "rb").read(), dtype=np.uint8)
    cut = len(tokens) * 9 // 10
    write_tokens(os.path.join(data, "tiny_shakespeare_train.bin"), tokens[:cut])
    write_tokens(os.path.join(data, "tiny_shakespeare_val.bin"), tokens[cut:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
