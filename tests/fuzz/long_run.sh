#!/bin/sh
# Long fuzzing sessions, one target at a time (the CI runs are too short to
# find rare bugs): each target gets SECONDS of libFuzzer, starting from the
# seeds and finds of its last ctest run, under nice so a shared machine
# stays usable. Prints one Markdown table row per target (docs/fuzzing.md).
#
# Usage: long_run.sh BUILD_DIR SECONDS NAME...
#   run `ctest --test-dir BUILD_DIR -L fuzz` first: it builds the seed corpora.
# Results stay in BUILD_DIR/tests/fuzz/long/NAME (log, corpus, artifacts).
set -u
seconds="$2"
# Absolute: each session runs inside its own work folder.
build=$(cd "$1" 2>/dev/null && pwd) || { echo "long_run.sh: no build folder '$1'" >&2; exit 1; }
shift 2
for name in "$@"; do
    fuzzer="$build/tests/fuzz/fuzz_$name"
    ci="$build/tests/fuzz/run/$name"
    work="$build/tests/fuzz/long/$name"
    [ -x "$fuzzer" ] && [ -d "$ci/seeds" ] || { echo "fuzz_$name: build it and run its ctest first" >&2; exit 1; }
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts" || exit 1
    cp "$ci/seeds/"* "$ci/found/"* "$work/corpus/" 2>/dev/null
    dict=$(cat "$ci/dict" 2>/dev/null) # the dictionary its ctest used, if any
    [ -n "$dict" ] && dict="-dict=$dict"
    start=$(date +%s)
    (cd "$work" && nice -n 15 "$fuzzer" -max_total_time="$seconds" -timeout=30 -print_final_stats=1 \
        -artifact_prefix=artifacts/ $dict corpus >log 2>&1)
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
    [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$work/log" | tail -n 1 | tr -d '#')
    cov=$(grep -E '^#[0-9]+' "$work/log" | tail -n 1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    found=$(ls "$work/artifacts" | wc -l)
    echo "| fuzz_$name | $(($(date +%s) - start)) s | $execs | $cov | $found | exit $rc |"
done
