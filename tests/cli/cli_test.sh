#!/usr/bin/env bash
# cli_test.sh CASE CLI [args]: one end-to-end check of distro-cli per case.
set -u
case_name=$1
cli=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

case "$case_name" in
help)
  for sub in devices bench train sample keygen; do
    "$cli" "$sub" --help >"$tmp/out" 2>&1 || fail "$sub --help exited $?"
    grep -q "usage: distro-cli $sub" "$tmp/out" || fail "$sub --help prints no usage"
  done
  "$cli" --help | grep -q "commands:" || fail "top-level --help"
  # help CMD is CMD --help.
  "$cli" help train >"$tmp/help" 2>&1 || fail "help train exited $?"
  "$cli" train --help >"$tmp/out" 2>&1
  cmp -s "$tmp/help" "$tmp/out" || fail "help train differs from train --help"
  "$cli" help nosuch >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "unknown command 'nosuch'" "$tmp/out" || fail "help nosuch: rc $rc"
  # --version: the version, the build and the compiled backends.
  "$cli" --version >"$tmp/out" 2>&1 || fail "--version exited $?"
  grep -q "^distro-cli [0-9]" "$tmp/out" || fail "--version: no version"
  grep -q "^build: .*, commit " "$tmp/out" || fail "--version: no build line"
  grep -q "^backends: cpu" "$tmp/out" || fail "--version: no backends"
  ;;
errors)
  # An unknown option or a bad value: one line naming it, and a hint.
  "$cli" bench --bogus >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] || fail "unknown option exited $rc, expected 2"
  grep -q "unknown option '--bogus'; see 'distro-cli bench --help'" "$tmp/out" ||
    fail "unknown option not named"
  [ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "unknown option printed more than one line"
  "$cli" train --stpes 3 >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "unknown option '--stpes' (did you mean --steps?)" "$tmp/out" &&
    [ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "misspelt --steps: rc $rc"
  "$cli" trian >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "unknown command 'trian' (did you mean train?)" "$tmp/out" &&
    [ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "misspelt train: rc $rc"
  "$cli" train --steps zero >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q -- "--steps 'zero'.*; see 'distro-cli train --help'" "$tmp/out" &&
    [ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "bad --steps value: rc $rc"
  "$cli" train --optimizer sgd >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "sgd" "$tmp/out" || fail "bad --optimizer: rc $rc"
  "$cli" train --preset huge --dry-run >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "unknown preset 'huge'" "$tmp/out" || fail "bad --preset: rc $rc"
  "$cli" train --device nosuch:0 --steps 1 >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 1 ] && grep -q "nosuch" "$tmp/out" || fail "bad --device: rc $rc"
  "$cli" train --inner-steps 4 --dry-run >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q -- "need --optimizer local" "$tmp/out" || fail "--inner-steps without local: rc $rc"
  "$cli" train --optimizer local --workers 0 --dry-run >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q -- "--workers" "$tmp/out" || fail "--workers 0: rc $rc"
  "$cli" train --optimizer local --outer both --dry-run >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "both" "$tmp/out" || fail "bad --outer: rc $rc"
  "$cli" train --hashes --steps 1 >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q -- "--hashes needs --json" "$tmp/out" || fail "--hashes without --json: rc $rc"
  "$cli" join 127.0.0.1:1 --state "$tmp/no/such/dir/state" >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "cannot write there" "$tmp/out" || fail "join --state in a missing folder: rc $rc"
  # --save is checked before training: a missing folder, and a device that
  # must never be replaced by a regular file (as root it used to be).
  "$cli" train --steps 1 --save "$tmp/no/such/dir/ck.safetensors" >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 1 ] && grep -q "the folder $tmp/no/such/dir does not exist" "$tmp/out" &&
    ! grep -q "^step " "$tmp/out" || fail "train --save into a missing folder: rc $rc"
  "$cli" train --steps 1 --save /dev/null >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 1 ] && grep -q "/dev/null is not a regular file" "$tmp/out" && [ -c /dev/null ] ||
    fail "train --save /dev/null: rc $rc"
  # bench checks every device spec before measuring any: no table, no JSON.
  "$cli" bench --device cpu,nope --quick >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 1 ] && grep -q "device spec 'nope': unknown backend" "$tmp/out" &&
    ! grep -q "GEMM" "$tmp/out" || fail "bench --device cpu,nope: rc $rc"
  "$cli" bench --device cpu,cpu:9 --quick --json >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 1 ] && grep -q "cpu:9" "$tmp/out" && ! grep -q "gflops" "$tmp/out" ||
    fail "bench --device cpu,cpu:9: rc $rc"
  "$cli" bench --device cpu, --quick >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "an empty device spec" "$tmp/out" || fail "bench --device cpu,: rc $rc"
  "$cli" frobnicate >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "unknown command 'frobnicate'" "$tmp/out" || fail "unknown command"
  # A scenario or model config past its size, or holding a NUL byte, is
  # refused as such, not cut and then parsed (the cut once hid the rest).
  scen='{"run": {"model": "tiny", "steps": 2}, "peers": [{"name": "a", "device": "cpu"}]}'
  { printf '%s' "$scen"; head -c 1048576 /dev/zero | tr '\0' ' '; printf 'GARBAGE'; } >"$tmp/big.json"
  "$cli" run "$tmp/big.json" >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 1 ] && grep -q "scenario .*big.json: larger than 1024 KiB" "$tmp/out" ||
    { cat "$tmp/out"; fail "run with a scenario over 1 MiB: rc $rc"; }
  { printf '%s' "$scen"; printf '\0GARBAGE'; } >"$tmp/nul.json"
  "$cli" run "$tmp/nul.json" >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 1 ] && grep -q "nul.json: holds a NUL byte" "$tmp/out" ||
    { cat "$tmp/out"; fail "run with a NUL byte in the scenario: rc $rc"; }
  { printf '{"vocab_size": 256}'; head -c 1048576 /dev/zero | tr '\0' ' '; } >"$tmp/big_config.json"
  "$cli" train --config "$tmp/big_config.json" --dry-run >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "model config .*big_config.json: larger than 1024 KiB" "$tmp/out" ||
    { cat "$tmp/out"; fail "train --config over 1 MiB: rc $rc"; }
  ;;
devices)
  "$cli" devices >"$tmp/out" 2>&1 || fail "devices exited $?"
  grep -q "^cpu " "$tmp/out" || fail "no cpu row"
  "$cli" devices --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert any(x["spec"]=="cpu" for x in d["devices"])' \
    || fail "devices --json"
  # Every device lists every op once, as running on the device, on the host
  # or unsupported; the cpu device runs them all itself; the canonical update
  # is on the host exactly when UPDATE says so.
  "$cli" devices --json | python3 -c '
import json, sys
d = json.load(sys.stdin)["devices"]
names = None
for x in d:
    if "ops" not in x:
        continue
    o = x["ops"]
    listed = o["device"] + o["host"] + o["unsupported"]
    assert len(listed) == len(set(listed)), (x["spec"], o)
    if names is None:
        names = sorted(listed)
    assert sorted(listed) == names, (x["spec"], o)
    assert ("demo_apply" in o["host"]) == (x["canonical_update"] == "host"), (x["spec"], o)
cpu = [x for x in d if x["spec"] == "cpu"][0]
assert not cpu["ops"]["host"] and not cpu["ops"]["unsupported"], cpu["ops"]
assert "gemm" in cpu["ops"]["device"] and "demo_apply" in cpu["ops"]["device"], cpu["ops"]
' || fail "devices --json: ops"
  ;;
bench_quick)
  "$cli" bench --device cpu --quick --json >"$tmp/out" || fail "bench exited $?"
  python3 - "$tmp/out" <<'PY' || fail "bench JSON"
import json, sys
d = json.load(open(sys.argv[1]))["devices"][0]
assert d["spec"] == "cpu" and "error" not in d, d
assert all(g["gflops"] > 0 for g in d["gemm"]), d["gemm"]
assert any(g["m"] == 1024 for g in d["gemm"])
for k in ("copy_gb_per_s", "demo_encode_params_per_s", "demo_apply_params_per_s"):
    assert d[k] > 0, k
PY
  ;;
dry_run)
  # llama-1b by hand: vocab 32000, dim 2048, 16 layers, ffn 8192, untied.
  #   per layer: attn_norm 2048 + wqkv 3*2048*2048 + wo 2048*2048
  #              + mlp_norm 2048 + w13 2*8192*2048 + w2 2048*8192
  #   plus token embedding 32000*2048, LM head 32000*2048, final norm 2048
  per_layer=$((2048 + 3*2048*2048 + 2048*2048 + 2048 + 2*8192*2048 + 2048*8192))
  total=$((16*per_layer + 2*32000*2048 + 2048))
  "$cli" train --preset llama-1b --dry-run --batch 1 >"$tmp/out" 2>&1 || fail "dry-run exited $?"
  cat "$tmp/out"
  grep -q "^model llama-1b: $total parameters" "$tmp/out" || fail "expected $total parameters"
  grep -q "weights .* $(python3 -c "print(f'{$total*4/2**20:.1f}')") MiB" "$tmp/out" || fail "weights MiB"
  # A payload larger than the dense weights is warned about: every coefficient
  # of 64 x 64 tiles in fp32 is 6 bytes a parameter; 1-bit values are not.
  "$cli" train --preset tiny --topk 4096 --dry-run >"$tmp/out" 2>&1 || fail "dry-run topk 4096"
  grep -q "warning: each payload is .* the dense fp32 weights" "$tmp/out" || fail "no payload warning"
  "$cli" train --preset tiny --topk 4096 --values 1bit --dry-run >"$tmp/out" 2>&1 || fail "1bit dry-run"
  ! grep -q "warning" "$tmp/out" || fail "warned about a 1-bit payload"
  "$cli" train --preset tiny --dry-run >"$tmp/out" 2>&1 && ! grep -q "warning" "$tmp/out" ||
    fail "warned about the default payload"
  echo '{"model": "tiny", "optimizer": {"topk": 4096}}' >"$tmp/big.json"
  "$cli" coordinator --validate "$tmp/big.json" >"$tmp/out" 2>"$tmp/err" || fail "--validate exited"
  grep -q "distro-cli coordinator: warning: each payload is" "$tmp/err" || fail "--validate: no warning"
  grep -q '"topk":.*4096' "$tmp/out" || fail "--validate output"
  ;;
train_sample)
  "$cli" train --preset tiny --steps 5 --batch 2 --device cpu --save "$tmp/ck.safetensors" \
    >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "train exited $?"; }
  grep -q "finished at step 5" "$tmp/out" || fail "train summary"
  "$cli" sample --checkpoint "$tmp/ck.safetensors" --prompt "ROMEO:" --tokens 40 --device cpu \
    >"$tmp/sample" 2>&1 || fail "sample exited $?"
  head -c 6 "$tmp/sample" | grep -q "ROMEO:" || fail "sample does not echo the prompt"
  [ "$(wc -c <"$tmp/sample")" -ge 46 ] || fail "sample too short"
  "$cli" sample --checkpoint "$tmp/missing" >"$tmp/out" 2>&1 && fail "missing checkpoint accepted"
  grep -q "missing" "$tmp/out" || fail "missing checkpoint not named"
  # Token ids work on a byte-level model too ("RO" is 82,79).
  "$cli" sample --checkpoint "$tmp/ck.safetensors" --prompt-tokens 82,79 --tokens 4 --device cpu \
    >"$tmp/sample" 2>&1 || fail "sample --prompt-tokens exited $?"
  head -c 2 "$tmp/sample" | grep -q "RO" || fail "sample --prompt-tokens does not echo the prompt"
  # A vocabulary that is not byte-level: a text prompt (or the default one)
  # is refused, naming --prompt-tokens; token ids are taken.
  cat >"$tmp/v300.json" <<'JSON'
{"vocab_size": 300, "dim": 32, "n_layers": 1, "n_heads": 2, "ffn_dim": 64, "seq_len": 16,
 "rope_theta": 10000, "tie_embeddings": false, "init_std": 0.02, "seed": 1}
JSON
  "$cli" train --config "$tmp/v300.json" --steps 1 --batch 1 --device cpu \
    --save "$tmp/v300.safetensors" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "train vocab 300"; }
  for prompt in "--prompt ROMEO:" ""; do
    # shellcheck disable=SC2086
    "$cli" sample --checkpoint "$tmp/v300.safetensors" $prompt --tokens 3 --device cpu \
      >"$tmp/out" 2>&1; rc=$?
    [ $rc -eq 2 ] && grep -q "vocabulary of 300 tokens, not bytes.*--prompt-tokens" "$tmp/out" ||
      fail "sample '$prompt' on vocab 300: rc $rc"
  done
  "$cli" sample --checkpoint "$tmp/v300.safetensors" --prompt-tokens 1,2,299 --tokens 3 \
    --device cpu >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "sample --prompt-tokens on vocab 300"; }
  grep -Eq "^1 2 299( [0-9]+){3} ?$" "$tmp/out" || fail "ids not echoed and continued: $(cat "$tmp/out")"
  "$cli" sample --checkpoint "$tmp/v300.safetensors" --prompt-tokens 1,300 --device cpu \
    >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 1 ] && grep -q "token 300 outside the vocabulary of 300" "$tmp/out" ||
    fail "out-of-vocabulary id: rc $rc"
  "$cli" sample --checkpoint "$tmp/v300.safetensors" --prompt-tokens 1,,2 >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q "'' is not a token id" "$tmp/out" || fail "empty id: rc $rc"
  ;;
opencl_first_use)
  # The one-time kernel build says so on stderr (stdout stays JSON), and only
  # while the program cache is cold; with the cache off it says why.
  "$cli" devices --json | grep -Eq '"spec":[[:space:]]*"opencl:0"' ||
    { echo "SKIP: no OpenCL device (opencl:0) in this build or on this machine"; exit 77; }
  run() { "$cli" train --preset tiny --steps 2 --batch 1 --eval-batches 1 --device opencl:0 --json; }
  DISTRO_CACHE_DIR="$tmp/cache" run >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "train exited"; }
  grep -q "^building OpenCL kernels for opencl:0 (.*) (first use, cached afterwards)\.\.\.$" "$tmp/err" ||
    fail "no progress line before the kernel build: $(cat "$tmp/err")"
  grep -q "^built OpenCL kernels for opencl:0 in [0-9.]* s$" "$tmp/err" || fail "build time not reported"
  python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/out" ||
    fail "stdout is not JSON lines"
  DISTRO_CACHE_DIR="$tmp/cache" run >"$tmp/out" 2>"$tmp/err" || fail "second train exited"
  ! grep -q "building OpenCL kernels" "$tmp/err" || fail "kernels rebuilt with a warm cache"
  DISTRO_OPENCL_CACHE=0 run >"$tmp/out" 2>"$tmp/err" || fail "train without a cache exited"
  grep -q "building OpenCL kernels for opencl:0 .*(the program cache is off" "$tmp/err" ||
    fail "cache off not said"
  ;;
opencl_first_step)
  # A driver that compiles kernels at their first launch (PoCL does) makes the
  # first step slow; tokens/s leaves that step out. Both caches start empty.
  "$cli" devices --json | grep -Eq '"spec":[[:space:]]*"opencl:0"' ||
    { echo "SKIP: no OpenCL device (opencl:0) in this build or on this machine"; exit 77; }
  DISTRO_CACHE_DIR="$tmp/cache" POCL_CACHE_DIR="$tmp/pocl" "$cli" train --preset tiny --steps 4 \
    --batch 2 --eval-batches 1 --device opencl:0 --json >"$tmp/out" 2>"$tmp/err" ||
    { cat "$tmp/err"; fail "train exited"; }
  first=$(sed -n 's/^the first step took \([0-9.]*\) s .*tokens\/s leaves it out$/\1/p' "$tmp/err")
  [ -n "$first" ] || { echo "SKIP: the first step took under 1 s: this driver compiled nothing lazily"; exit 77; }
  python3 - "$tmp/out" "$first" <<'PY' || fail "the first step is counted in tokens/s"
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1])]
total = sum(s["tokens"] for s in steps)
# Counting the first step, tokens/s would be below total / (its seconds).
assert steps[-1]["tokens_per_s"] > 2 * total / float(sys.argv[2]), (steps[-1], sys.argv[2])
PY
  ;;
resume)
  # --resume takes the model, the optimizer, its settings and the schedule
  # from the checkpoint: none of the first run's options is repeated, and
  # 4 + 4 steps land on the bits of 8 straight (a constant lr after warmup,
  # final-lr-frac 1, so extending --steps moves no learning rate). The seed
  # is the largest there is, which a float would not keep.
  opts="--preset tiny --batch 2 --workers 2 --topk 8 --chunk 32 --values bf16 --beta 0.99
        --lr 2e-3 --warmup 2 --final-lr-frac 1 --seed 8999999999999999 --weight-decay 0.05 --clip 0.5"
  # shellcheck disable=SC2086
  "$cli" train $opts --device cpu --steps 8 >"$tmp/straight" 2>&1 || { cat "$tmp/straight"; fail "straight run"; }
  # shellcheck disable=SC2086
  "$cli" train $opts --device cpu --steps 4 --save "$tmp/half.st" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "first half"; }
  "$cli" train --resume "$tmp/half.st" --steps 8 --device cpu >"$tmp/resumed" 2>&1 ||
    { cat "$tmp/resumed"; fail "resume without repeating the options: rc $?"; }
  want=$(grep -o "param hash [0-9a-f]*" "$tmp/straight" | tail -n 1)
  got=$(grep -o "param hash [0-9a-f]*" "$tmp/resumed" | tail -n 1)
  [ -n "$want" ] && [ "$got" = "$want" ] || fail "4 + 4 resumed steps: '$got', 8 straight: '$want'"
  grep -q "optimizer demo (top-k 8, bf16 values, chunk 32, beta 0.99); 2 workers; resuming at step 4" \
    "$tmp/resumed" || fail "the resumed run did not take the checkpoint's optimizer settings"
  ! grep -q "warning" "$tmp/resumed" || fail "a warning for a schedule whose lr does not move"
  # A seed that a JSON number cannot hold exactly is refused up front, not
  # changed on resume.
  "$cli" train --preset tiny --steps 1 --seed 9007199254740993 >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq 2 ] && grep -q -- "--seed '9007199254740993' is not an integer in \[0, 9000000000000000\]" \
    "$tmp/out" || { cat "$tmp/out"; fail "--seed above 2^53: rc $rc"; }
  # An option that disagrees is refused, named; one that agrees is fine.
  for bad in "--optimizer adamw:--optimizer adamw disagrees" "--topk 16:--topk 16 disagrees" \
             "--lr 1e-3:--lr 1e-3 disagrees with the checkpoint .* trained with --lr 0.002" \
             "--values fp32:--values fp32 disagrees" "--workers 1:--workers 1 disagrees" \
             "--batch 4:--batch 4 disagrees" "--preset shakespeare:--preset shakespeare: the checkpoint" \
             "--steps 3:--steps 3: the checkpoint .* is at step 4"; do
    # shellcheck disable=SC2086
    "$cli" train --resume "$tmp/half.st" --device cpu ${bad%%:*} >"$tmp/out" 2>&1; rc=$?
    [ $rc -eq 2 ] && grep -q -- "${bad#*:}" "$tmp/out" || { cat "$tmp/out"; fail "resume ${bad%%:*}: rc $rc"; }
  done
  "$cli" train --resume "$tmp/half.st" --device cpu --topk 8 --preset tiny >"$tmp/out" 2>&1 ||
    { cat "$tmp/out"; fail "resume with options that agree"; }
  # A --steps that reshapes a cosine schedule makes the lr jump: a warning.
  "$cli" train --preset tiny --batch 2 --device cpu --steps 4 --save "$tmp/cos.st" >"$tmp/out" 2>&1 ||
    fail "cosine run"
  "$cli" train --resume "$tmp/cos.st" --device cpu --steps 8 >"$tmp/out" 2>&1 || fail "extend a cosine run"
  grep -q "warning: --steps 8 reshapes the schedule .* the learning rate jumps from" "$tmp/out" ||
    { cat "$tmp/out"; fail "no warning for an lr jump at the resume step"; }
  # A checkpoint from before the options were recorded still resumes (the
  # model and optimizer from it, the rest from the command line), saying so.
  python3 - "$tmp/half.st" "$tmp/old.st" <<'PY' || fail "could not write an older checkpoint"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
del h["__metadata__"]["train"]
t = json.dumps(h).encode()
t += b" " * ((8 - len(t) % 8) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(t)) + t + b[8 + n:])
PY
  "$cli" train --resume "$tmp/old.st" --device cpu --batch 2 --workers 2 --topk 8 --chunk 32 \
    --values bf16 --beta 0.99 --lr 2e-3 --warmup 2 --final-lr-frac 1 --weight-decay 0.05 --clip 0.5 \
    --steps 8 >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "an older checkpoint no longer resumes"; }
  grep -q "records no training options" "$tmp/out" || fail "no note for an older checkpoint"
  [ "$(grep -o "param hash [0-9a-f]*" "$tmp/out" | tail -n 1)" = "$want" ] ||
    fail "an older checkpoint resumed with the same options lands elsewhere"
  ;;
checkpoint_python)
  py=$3
  if [ ! -x "$py" ] || ! "$py" -c 'import safetensors, numpy' 2>/dev/null; then
    echo "SKIP: $py with safetensors and numpy not found (scripts/setup.sh installs them from PyPI)"
    exit 77
  fi
  for opt in adamw demo; do
    "$cli" train --preset tiny --steps 3 --batch 2 --device cpu --optimizer $opt \
      --save "$tmp/$opt.safetensors" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "train $opt"; }
    "$py" "$4" "$tmp/$opt.safetensors" $opt || fail "independent reader rejected the $opt checkpoint"
  done
  ;;
install)
  # cmake --install puts the CLI, the headers, the library and a
  # pkg-config file in place; a program builds against them and runs.
  cmake=$3 build=$4 cc=$5
  command -v pkg-config >/dev/null || { echo "SKIP: pkg-config not installed"; exit 77; }
  "$cmake" --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "cmake --install"; }
  [ -x "$tmp/prefix/bin/distro-cli" ] || fail "no installed distro-cli"
  "$tmp/prefix/bin/distro-cli" --version | grep -q "distro-cli" || fail "installed distro-cli --version"
  cat >"$tmp/use.c" <<'C'
#include <distro/distro.h>
#include <stdio.h>
int main(void) {
    dt_device *d;
    if (dt_device_open("cpu", &d) != DT_OK) return 1;
    printf("%s\n", dt_device_get_info(d)->backend);
    dt_device_close(d);
    return 0;
}
C
  flags=$(PKG_CONFIG_PATH="$(dirname "$(find "$tmp/prefix" -name distro.pc)")" pkg-config --cflags --libs distro) ||
    fail "pkg-config distro"
  # shellcheck disable=SC2086
  "$cc" "$tmp/use.c" -o "$tmp/use" $flags || fail "building against the installed tree"
  [ "$("$tmp/use")" = cpu ] || fail "the installed library does not open the cpu device"
  ;;
format)
  # Every C source and header is formatted with the checked-in .clang-format.
  src=$3
  command -v clang-format >/dev/null || { echo "SKIP: clang-format not installed"; exit 77; }
  # The style is what Debian 12's clang-format 14 makes of .clang-format;
  # other versions may lay out the same code differently.
  major=$(clang-format --version | sed -n 's/.*version \([0-9][0-9]*\)\..*/\1/p')
  [ "$major" = 14 ] || { echo "SKIP: the style is clang-format 14's (Debian 12), this is ${major:-an unknown version}"; exit 77; }
  files=$(git -C "$src" ls-files '*.c' '*.h' 2>/dev/null) || { echo "SKIP: not a git checkout"; exit 77; }
  bad=0
  for f in $files; do
    clang-format --dry-run --Werror "$src/$f" >/dev/null 2>&1 || { echo "not formatted: $f"; bad=1; }
  done
  [ $bad = 0 ] || fail "run clang-format -i on the files above"
  ;;
*)
  fail "unknown case $case_name"
  ;;
esac
echo "PASS: $case_name"
