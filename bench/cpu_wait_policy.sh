#!/usr/bin/env bash
# bench/cpu_wait_policy.sh [CLI] [PAIRS]: train tokens/s with idle OpenMP
# threads spinning (GOMP_SPINCOUNT=300000, libgomp's default when
# OMP_WAIT_POLICY is unset) against waiting passively (distro-cli's default
# since issue 10), with BUSY other processes spinning on the same cores.
# Runs are interleaved in pairs; prints each figure, the medians and the
# ratio. CLI defaults to build/bin/distro-cli.
#   BUSY=1 PRESET=small BATCH=8 STEPS=5 THREADS=<all cores> override the run.
set -u
cli=${1:-build/bin/distro-cli}
pairs=${2:-3}
busy=${BUSY:-1}
preset=${PRESET:-small}
batch=${BATCH:-8}
steps=${STEPS:-5}
threads=${THREADS:-$(nproc)}
[ -x "$cli" ] || { echo "no distro-cli at $cli (build first, or pass its path)"; exit 2; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT
for _ in $(seq "$busy"); do
  (while :; do :; done) &
  pids+=($!)
done

run() { # run SPINCOUNT|passive: prints tokens/s of one train run
  local envs=(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_NUM_THREADS="$threads")
  [ "$1" != passive ] && envs+=(GOMP_SPINCOUNT="$1")
  "${envs[@]}" "$cli" train --preset "$preset" --batch "$batch" --steps "$steps" --eval-every 0 \
    --eval-batches 1 --optimizer adamw --device cpu 2>&1 |
    sed -n 's/^finished at step .*, \([0-9.]*\) tokens\/s.*/\1/p'
}

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "train --preset $preset --batch $batch --steps $steps, $threads threads, $busy busy process(es) beside it"
spin=() passive=()
for i in $(seq "$pairs"); do
  s=$(run 300000) p=$(run passive)
  echo "pair $i: spinning $s tokens/s, passive $p tokens/s"
  spin+=("$s") passive+=("$p")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ms=$(median "${spin[@]}") mp=$(median "${passive[@]}")
echo "median: spinning $ms tokens/s, passive $mp tokens/s, passive/spinning $(awk -v a="$mp" -v b="$ms" 'BEGIN {printf "%.2fx", a/b}')"
