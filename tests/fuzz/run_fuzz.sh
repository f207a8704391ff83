#!/bin/sh
# Runs a libFuzzer target for a fixed number of inputs from a fresh seed
# corpus, so CI runs are repeatable (fixed -seed) and bounded.
# Usage: run_fuzz.sh FUZZER CORPUS_TOOL WORKDIR RUNS [SKIP_REASON]
# An empty FUZZER means it could not be built: exit 77 (skipped) with why.
set -u
fuzzer="$1" tool="$2" work="$3" runs="$4" reason="${5:-}"
if [ -z "$fuzzer" ]; then
    echo "skipped: fuzz target not built: ${reason:-no reason recorded}"
    exit 77
fi
[ -x "$fuzzer" ] || { echo "FAIL: $fuzzer is missing (build the fuzz_wire_target target)"; exit 1; }
rm -rf "$work"
mkdir -p "$work/seeds" "$work/found" || exit 1
"$tool" "$work/seeds" || exit 1
cd "$work" || exit 1
# New coverage goes to found/, crashes to artifacts/; seeds stay as written.
mkdir -p artifacts
"$fuzzer" -runs="$runs" -seed=1 -print_final_stats=1 -artifact_prefix=artifacts/ \
    found seeds >log 2>&1
rc=$?
grep -E "^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb)" log
if [ $rc -ne 0 ]; then
    tail -n 60 log
    echo "FAIL: the fuzzer exited $rc; reproducer(s) in $work/artifacts"
    exit 1
fi
echo "fuzz_wire: $runs inputs, no findings"
