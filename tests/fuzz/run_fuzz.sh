#!/bin/sh
# Runs one libFuzzer target for a fixed number of inputs from a fresh seed
# corpus, so CI runs are repeatable (fixed -seed, deterministic seeds) and
# bounded. Any crash, sanitizer report, leak or input slower than 30 s
# fails the test; its reproducer is left in WORKDIR/artifacts.
#
# Usage: run_fuzz.sh NAME FUZZER WORKDIR RUNS SKIP_REASON DICT [SEED...] [-- TOOL [ARG...]]
#   SEED   a file or a folder of files copied into the seed corpus
#   TOOL   a generator, run as TOOL ARG... WORKDIR/seeds
# An empty FUZZER means it could not be built: exit 77 (skipped) with why.
# An empty DICT means no dictionary.
set -u
name="$1" fuzzer="$2" work="$3" runs="$4" reason="$5" dict="$6"
shift 6
if [ -z "$fuzzer" ]; then
    echo "skipped: fuzz_$name not built: ${reason:-no reason recorded}"
    exit 77
fi
[ -x "$fuzzer" ] || { echo "FAIL: $fuzzer is missing (build the fuzz_${name}_target target)"; exit 1; }
rm -rf "$work"
mkdir -p "$work/seeds" "$work/found" "$work/artifacts" || exit 1
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    if [ -d "$1" ]; then cp -R "$1/." "$work/seeds/"; else cp "$1" "$work/seeds/"; fi || exit 1
    shift
done
if [ $# -gt 0 ]; then
    shift
    "$@" "$work/seeds" || { echo "FAIL: the seed generator failed"; exit 1; }
fi
[ -n "$(ls "$work/seeds")" ] || { echo "FAIL: fuzz_$name has no seeds"; exit 1; }
printf '%s\n' "$dict" >"$work/dict" # for long_run.sh
cd "$work" || exit 1
# New coverage goes to found/, crashes to artifacts/; seeds stay as written.
# -len_control=0: inputs may grow to the full -max_len at once; a short run
# would otherwise never get past the seeds' lengths (a keys line over the
# 1023-character limit needs a few bytes more than the longest seed).
set -- -runs="$runs" -seed=1 -len_control=0 -timeout=30 -print_final_stats=1 -artifact_prefix=artifacts/
[ -n "$dict" ] && set -- "$@" -dict="$dict"
"$fuzzer" "$@" found seeds >log 2>&1
rc=$?
grep -E "^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb)" log
if [ $rc -ne 0 ]; then
    tail -n 60 log
    echo "FAIL: fuzz_$name exited $rc; reproducer(s) in $work/artifacts"
    exit 1
fi
echo "fuzz_$name: $runs inputs, no findings"
