#!/usr/bin/env bash
# bench/cpu_vs_pytorch.sh [BUILD_DIR]: distro's CPU training against PyTorch
# (eager and torch.compile) and llm.c's CPU trainer, same shapes, threads and
# steps, runs interleaved; prints tokens/s per run, medians and ratios.
#
#   small preset, batch 8 (seq 256): distro with its default GEMM path, with
#       the own kernel and with OpenBLAS forced (is the default within 5% of
#       the best?), PyTorch eager and torch.compile (bench/torch_train.py,
#       the same architecture and AdamW step);
#   GPT-2 124M shape, B=4, T=64 (distro's gpt2-small-like preset at seq 64:
#       768 wide, 12 layers, 12 heads, vocab 50257, the same parameter count
#       as GPT-2's MLP): distro, llm.c's train_gpt2.c, PyTorch eager.
#
# PyTorch comes from PyPI into a venv under the build folder (BENCH_VENV,
# default BUILD_DIR/bench-venv; several GB, installed once), never a
# dependency of distro; if pip cannot install it the script says so and
# exits 77. llm.c is cloned into BUILD_DIR/bench-llmc (or LLMC_DIR, an
# existing checkout) and built with its Makefile; its GPT-2 checkpoint and
# data are written by bench/llmc_inputs.py (random weights: only time is
# compared); without network or a compiler that part is skipped, saying why.
#
# Knobs: THREADS (2), ROUNDS (2), SMALL_STEPS (6), GPT2_STEPS (4),
# OMP_WAIT_POLICY (PASSIVE for every program: distro's default),
# SKIP_COMPILE=1, SKIP_LLMC=1.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" 2>/dev/null && pwd) || { echo "no build folder ${1:-$root/build}"; exit 2; }
cli=$build/bin/distro-cli
venv=${BENCH_VENV:-$build/bench-venv}
llmc=$(realpath -m "${LLMC_DIR:-$build/bench-llmc}")
threads=${THREADS:-2}
rounds=${ROUNDS:-2}
small_steps=${SMALL_STEPS:-6}
gpt2_steps=${GPT2_STEPS:-4}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1
[ -x "$cli" ] || { echo "no distro-cli in $build/bin: build first, or pass the build folder"; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- PyTorch ---------------------------------------------------------------
py=$venv/bin/python
if ! "$py" -c "import torch, numpy" 2>/dev/null; then
  echo "installing PyTorch and numpy from PyPI into $venv (once; several GB)..."
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q torch numpy; } >"$tmp/pip.log" 2>&1; then
    tail -n 5 "$tmp/pip.log"
    echo "SKIP: pip could not install torch from PyPI into $venv (offline, or no wheel for" \
         "this Python/platform); nothing to compare against"
    exit 77
  fi
fi

# ---- llm.c -----------------------------------------------------------------
llmc_ok=0
if [ "${SKIP_LLMC:-0}" = 1 ]; then
  llmc_why="SKIP_LLMC=1"
elif [ ! -f "$llmc/train_gpt2.c" ] &&
     ! git clone -q --depth 1 https://github.com/karpathy/llm.c "$llmc" >"$tmp/clone.log" 2>&1; then
  llmc_why="cannot clone https://github.com/karpathy/llm.c ($(tail -n 1 "$tmp/clone.log")); set LLMC_DIR to a checkout"
elif ! (cd "$llmc" && make -s CC="${CC:-gcc}" train_gpt2) >"$tmp/make.log" 2>&1; then
  llmc_why="make train_gpt2 failed: $(tail -n 1 "$tmp/make.log")"
elif ! "$py" "$root/bench/llmc_inputs.py" "$llmc" "$root/data/tinyshakespeare.txt" >"$tmp/in.log" 2>&1; then
  llmc_why="bench/llmc_inputs.py failed: $(tail -n 1 "$tmp/in.log")"
else
  llmc_ok=1
fi

# ---- one run of each program: prints tokens/s -------------------------------
distro_run() { # GEMM(default|own|blas) TRAIN-ARGS...
  local gemm=$1 device=cpu
  shift
  [ "$gemm" != default ] && device="cpu:gemm=$gemm"
  "$cli" train "$@" --optimizer adamw --device "$device" --eval-every 0 --eval-batches 1 \
    2>&1 | sed -n 's/^finished at step .*, \([0-9.]*\) tokens\/s.*/\1/p'
}
torch_run() { # MODE ARGS...
  "$py" "$root/bench/torch_train.py" --threads "$threads" --mode "$@" 2>"$tmp/torch.err" |
    sed -n 's/.*"tokens_per_s": \([0-9.]*\).*/\1/p'
}
# llm.c prints "step N: train loss L (took T ms)" per step: step 0 (first
# touch of the gradient memory) is left out, as distro leaves out its first;
# the next STEPS-1 are timed, then the trainer is stopped.
llmc_run() {
  local want=$gpt2_steps log=$tmp/llmc.log
  : >"$log"
  (cd "$llmc" && exec stdbuf -oL ./train_gpt2) >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null && [ "$(grep -c 'took' "$log")" -lt "$want" ]; do sleep 0.5; done
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  grep 'took' "$log" | sed -n 's/.*took \([0-9.]*\) ms.*/\1/p' | awk -v n="$want" \
    'NR > 1 && NR <= n { s += $1; k++ } END { if (k) printf "%.1f\n", k * 4 * 64 / (s / 1000) }'
}

median() { printf '%s\n' "$@" | grep -v '^$' | sort -g |
  awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2fx", a / b; else print "-" }'; }
# Each round's own ratio, then their median: the programs of one round run
# within minutes of each other, so a machine whose speed drifts between
# rounds (other jobs come and go) moves both sides of a round's ratio, while
# a ratio of medians can pair one program's fast round with another's slow.
round_ratios() { # "A1 A2 ..." "B1 B2 ..." (0: no figure): "A1/B1x ... (median Mx)" or "-"
  local -a a=($1) b=($2) r=()
  local i out=""
  for i in "${!a[@]}"; do
    r+=("$(awk -v x="${a[$i]}" -v y="${b[$i]:-0}" 'BEGIN { if (x > 0 && y > 0) printf "%.2f", x / y }')")
    out+="${r[-1]:--}${r[-1]:+x} "
  done
  local m
  m=$(median "${r[@]}")
  if [ -n "$m" ]; then echo "${out}(median ${m}x)"; else echo "-"; fi
}
# The words of an array with 0 for a run that printed no figure, so rounds
# stay aligned when a list goes through round_ratios.
figures() { local x out=(); for x in "$@"; do out+=("${x:-0}"); done; echo "${out[*]}"; }

cpu=$(lscpu | sed -n 's/^Model name: *//p')
echo "CPU: $cpu; $(nproc) cores online; $threads threads per program; OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "distro $("$cli" --version | head -n 1 | cut -d' ' -f2), $("$cli" devices 2>/dev/null | grep -o 'gemm: .*' | head -n 1)"
echo "torch $("$py" -c 'import torch; print(torch.__version__)' 2>/dev/null)"
if [ "$llmc_ok" = 1 ]; then
  [ -d "$llmc/.git" ] && echo "llm.c $(git -C "$llmc" rev-parse --short HEAD)" || echo "llm.c in $llmc"
else
  echo "llm.c: skipped: $llmc_why"
fi

# ---- small preset, batch 8 ---------------------------------------------------
small=(--preset small --batch 8 --steps "$small_steps")
torch_small=(--vocab 256 --dim 384 --layers 6 --heads 6 --ffn 1024 --seq 256 --batch 8
  --warmup 2 --steps $((small_steps - 1)))
echo
echo "== small preset, batch 8 x seq 256, $((small_steps - 1)) timed steps, tokens/s =="
d=() o=() b=() e=() c=()
for r in $(seq "$rounds"); do
  d+=("$(distro_run default "${small[@]}")")
  o+=("$(distro_run own "${small[@]}")")
  b+=("$(distro_run blas "${small[@]}")")
  e+=("$(torch_run eager "${torch_small[@]}")")
  [ "${SKIP_COMPILE:-0}" = 1 ] || c+=("$(torch_run compile "${torch_small[@]}")")
  echo "round $r: distro default ${d[-1]}, own kernel ${o[-1]}, OpenBLAS ${b[-1]}," \
       "torch eager ${e[-1]}, torch.compile ${c[-1]:-skipped}"
done
md=$(median "${d[@]}") mo=$(median "${o[@]}") mb=$(median "${b[@]}") me=$(median "${e[@]}")
mc=$(median "${c[@]:-}")
best=$(printf '%s\n' "$mo" "$mb" | sort -g | tail -n 1)
echo "median: distro default $md, own kernel $mo, OpenBLAS $mb, torch eager $me, torch.compile ${mc:--}"
echo "ratios: default/best path $(ratio "$md" "$best"), distro/eager $(ratio "$md" "$me")," \
     "distro/compile $(ratio "$md" "$mc")"
echo "round ratios: distro/eager $(round_ratios "$(figures "${d[@]}")" "$(figures "${e[@]}")");" \
     "distro/compile $(round_ratios "$(figures "${d[@]}")" "$(figures "${c[@]:-}")")"

# ---- GPT-2 124M shape, B=4, T=64 ----------------------------------------------
cat >"$tmp/gpt2.json" <<'EOF'
{"vocab_size": 50257, "dim": 768, "n_layers": 12, "n_heads": 12, "ffn_dim": 2048,
 "seq_len": 64, "rope_theta": 10000.0, "tie_embeddings": true, "init_std": 0.02, "seed": 1337}
EOF
gpt2=(--config "$tmp/gpt2.json" --batch 4 --steps "$gpt2_steps")
torch_gpt2=(--vocab 50257 --dim 768 --layers 12 --heads 12 --ffn 2048 --seq 64 --batch 4
  --warmup 1 --steps $((gpt2_steps - 1)))
echo
echo "== GPT-2 124M shape, B=4 x T=64, $((gpt2_steps - 1)) timed steps, tokens/s =="
d=() l=() e=()
for r in $(seq "$rounds"); do
  d+=("$(distro_run default "${gpt2[@]}")")
  [ "$llmc_ok" = 1 ] && l+=("$(llmc_run)")
  e+=("$(torch_run eager "${torch_gpt2[@]}")")
  echo "round $r: distro ${d[-1]}, llm.c ${l[-1]:-skipped}, torch eager ${e[-1]}"
done
md=$(median "${d[@]}") ml=$(median "${l[@]:-}") me=$(median "${e[@]}")
echo "median: distro $md, llm.c ${ml:--}, torch eager $me"
echo "ratios: distro/llm.c $(ratio "$md" "$ml"), distro/eager $(ratio "$md" "$me")"
echo "round ratios: distro/llm.c $(round_ratios "$(figures "${d[@]}")" "$(figures "${l[@]:-}")");" \
     "distro/eager $(round_ratios "$(figures "${d[@]}")" "$(figures "${e[@]}")")"
