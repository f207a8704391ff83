#!/usr/bin/env bash
# hf_export_test.sh CLI PY HF_FORWARD: distro-cli export --format hf, checked
# by an independent numpy forward pass over the exported folder
# (hf_forward.py) against distro-cli's own logits and greedy text, for a
# tied train checkpoint, an untied one with other heads and rope_theta, and
# a coordinator's checkpoint; then the command's refusals.
set -u
cli=$1 py=$2 fwd=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
if [ ! -x "$py" ] || ! "$py" -c 'import safetensors, numpy' 2>/dev/null; then
  echo "SKIP: $py with safetensors and numpy not found (scripts/setup.sh installs them from PyPI)"
  exit 77
fi

"$cli" export --help >"$tmp/out" 2>&1 || fail "export --help exited $?"
grep -q "usage: distro-cli export \[options\] OUT_DIR" "$tmp/out" || fail "export --help prints no usage"
"$cli" --help | grep -q "^  export " || fail "export is not in the command list"

check() { # name checkpoint: export it, then the numpy forward against distro-cli
  "$cli" export --format hf --checkpoint "$2" "$tmp/$1" >"$tmp/out" 2>&1 ||
    { cat "$tmp/out"; fail "export of $1 exited $?"; }
  cat "$tmp/out"
  echo "== $1"
  "$py" "$fwd" "$tmp/$1" "$cli" "$2" || fail "the exported $1 model does not compute what distro-cli does"
}

# 1. The tiny preset (tied embeddings, 4 heads of 16), trained far enough
#    that greedy text is not one repeated byte.
"$cli" train --preset tiny --optimizer adamw --steps 400 --batch 8 --eval-every 0 --device cpu \
  --save "$tmp/tiny.safetensors" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "train tiny"; }
check tiny "$tmp/tiny.safetensors"
"$py" - "$tmp/tiny" <<'PY' || fail "config.json / generation_config.json"
import json, os, sys
c = json.load(open(os.path.join(sys.argv[1], "config.json")))
want = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
        "intermediate_size": 192, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 4, "max_position_embeddings": 32, "rope_theta": 10000.0,
        "rms_norm_eps": 1e-05, "vocab_size": 256, "tie_word_embeddings": True,
        "hidden_act": "silu", "torch_dtype": "float32", "attention_bias": False,
        "mlp_bias": False, "bos_token_id": None, "eos_token_id": None}
bad = {k: (c.get(k), v) for k, v in want.items() if c.get(k, "absent") != v}
assert not bad, bad
g = json.load(open(os.path.join(sys.argv[1], "generation_config.json")))
assert g["eos_token_id"] is None and g["max_length"] == 32, g
assert sorted(os.listdir(sys.argv[1])) == ["config.json", "generation_config.json",
                                           "model.safetensors"], os.listdir(sys.argv[1])
PY

# 2. Untied head, 2 heads of 32, another rope_theta and seq_len.
cat >"$tmp/untied.json" <<'JSON'
{"vocab_size": 256, "dim": 64, "n_layers": 2, "n_heads": 2, "ffn_dim": 128, "seq_len": 24,
 "rope_theta": 500.0, "tie_embeddings": false, "init_std": 0.02, "seed": 7}
JSON
"$cli" train --config "$tmp/untied.json" --optimizer adamw --steps 200 --batch 8 --eval-every 0 \
  --device cpu --save "$tmp/untied.safetensors" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "train untied"; }
check untied "$tmp/untied.safetensors"

# 3. A coordinator's checkpoint (DeMo over loopback, one peer).
cat >"$tmp/scenario.json" <<'JSON'
{"run": {"model": "tiny", "steps": 6, "micro_batch": 2, "tokens_per_round": 128, "min_peers": 1},
 "peers": [{"name": "cpu", "device": "cpu"}], "baseline": false, "sample_tokens": 0}
JSON
"$cli" run "$tmp/scenario.json" --keep "$tmp/run" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "run"; }
check coordinator "$tmp/run/checkpoint/coordinator.safetensors"

# 4. Refusals, each naming the problem, and nothing left behind.
"$cli" export --checkpoint "$tmp/tiny.safetensors" "$tmp/tiny" >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "the folder $tmp/tiny is not empty" "$tmp/out" && grep -q -- "--force" "$tmp/out" ||
  fail "a non-empty folder: rc $rc: $(cat "$tmp/out")"
touch "$tmp/tiny/mine.txt"
"$cli" export --force --checkpoint "$tmp/untied.safetensors" "$tmp/tiny" >"$tmp/out" 2>&1 ||
  fail "--force: $(cat "$tmp/out")"
[ -e "$tmp/tiny/mine.txt" ] && grep -q '"tie_word_embeddings":.*false' "$tmp/tiny/config.json" ||
  fail "--force did not replace the export or removed another file"
"$cli" export --checkpoint "$tmp/tiny.safetensors" "$tmp/a/b/c" >/dev/null 2>&1 &&
  [ -f "$tmp/a/b/c/model.safetensors" ] || fail "missing parent folders are not created"
"$cli" export --checkpoint "$tmp/tiny.safetensors" "$tmp/untied.json" >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "untied.json exists and is not a folder" "$tmp/out" || fail "OUT_DIR a file: rc $rc"
"$cli" export --checkpoint "$tmp/missing.safetensors" "$tmp/x" >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "missing.safetensors" "$tmp/out" && [ ! -e "$tmp/x" ] ||
  fail "a missing checkpoint: rc $rc: $(cat "$tmp/out")"
cp "$tmp/tiny.safetensors" "$tmp/damaged.safetensors"
"$py" - "$tmp/damaged.safetensors" <<'PY' || fail "damaging a weight"
import json, struct, sys
f = open(sys.argv[1], "r+b")
n = struct.unpack("<Q", f.read(8))[0]
begin = json.loads(f.read(n))["layers.1.wqkv"]["data_offsets"][0]
f.seek(8 + n + begin + 1)
b = f.read(1)
f.seek(8 + n + begin + 1)
f.write(bytes([b[0] ^ 0x04]))  # a low mantissa bit of the first weight
PY
"$cli" export --checkpoint "$tmp/damaged.safetensors" "$tmp/y" >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "damaged" "$tmp/out" && [ ! -e "$tmp/y" ] ||
  fail "a damaged checkpoint: rc $rc: $(cat "$tmp/out")"
"$cli" export "$tmp/z" >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q -- "--checkpoint FILE is required" "$tmp/out" || fail "no --checkpoint: rc $rc"
"$cli" export --format gguf --checkpoint "$tmp/tiny.safetensors" "$tmp/z" >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "gguf" "$tmp/out" || fail "--format gguf: rc $rc"
"$cli" export --checkpoint "$tmp/tiny.safetensors" >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 2 ] || fail "no OUT_DIR: rc $rc"
echo "PASS: hf_export"
