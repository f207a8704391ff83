#!/usr/bin/env bash
# The quality benchmark of issue 9: validation loss against AdamW on the
# same tokens, and bytes per peer per optimizer step, for 4 simulated peers
# (distro-cli train --workers 4) on the shakespeare and small presets.
# Prints the table and writes it to docs/quality.md with the CPU named.
#
#   bash scripts/quality.sh [--quick]    (--quick: a short smoke run of every row)
#
# Every row is one `distro-cli train` on the cpu with one thread; two rows
# run at a time (the machine has two cores). AdamW trains one device on the
# union of the four workers' micro-batches per step: the same global batch,
# steps and tokens, with its own tuned lr.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${DISTRO_CLI:-build/bin/distro-cli}
[ -x "$CLI" ] || { echo "quality: $CLI not found; run scripts/setup.sh first" >&2; exit 1; }
quick=0
[ "${1:-}" = --quick ] && quick=1
out=${DISTRO_QUALITY_OUT:-docs/quality.md}
work=$(mktemp -d "${TMPDIR:-/tmp}/distro-quality.XXXXXX")
trap 'rm -rf "$work"' EXIT
cores=$(nproc)
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
WORKERS=4

# preset | steps | batch per worker | rows: "label|train arguments"
sh_steps=2000 sm_steps=120
[ $quick = 1 ] && sh_steps=64 sm_steps=8
ROWS=(
  "AdamW (lr 2e-3)|--optimizer adamw --lr 2e-3"
  "DeMo k=32 fp32|--optimizer demo --topk 32 --values fp32"
  "DeMo k=4 1-bit|--optimizer demo --topk 4 --values 1bit"
  "local H=8 k=32 fp32|--optimizer local --inner-steps 8 --topk 32 --values fp32"
  "local H=8 k=32 1-bit, sign outer|--optimizer local --inner-steps 8 --topk 32 --values 1bit --outer sign --outer-lr 0.5 --lr 2e-3"
  "local H=32 k=32 fp32|--optimizer local --inner-steps 32 --topk 32 --values fp32"
  "local H=32 k=32 1-bit, sign outer|--optimizer local --inner-steps 32 --topk 32 --values 1bit --outer sign --outer-lr 0.5 --lr 2e-3"
  "DeMo k=9 1-bit|--optimizer demo --topk 9 --values 1bit"
)
[ -n "${DISTRO_QUALITY_EXTRA:-}" ] && IFS=';' read -r -a extra <<<"$DISTRO_QUALITY_EXTRA" && ROWS+=("${extra[@]}")

# run PRESET STEPS BATCH INDEX ARGS...: one row's JSON lines into $work.
run() {
    local preset=$1 steps=$2 batch=$3 i=$4
    shift 4
    "$CLI" train --preset "$preset" --device cpu --workers $WORKERS --batch "$batch" \
        --steps "$steps" --eval-every 0 --eval-batches 20 --json "$@" \
        >"$work/$preset-$i.json" 2>"$work/$preset-$i.err" ||
        { echo "quality: row $i on $preset failed: $(tail -n 2 "$work/$preset-$i.err")" >&2; return 1; }
}

# last JSON line's field
field() { tail -n 1 "$1" | sed -n "s/.*\"$2\":\\([-0-9.e+]*\\).*/\\1/p"; }

table() { # PRESET STEPS BATCH
    local preset=$1 steps=$2 batch=$3 i params
    local t0=$SECONDS
    for ((i = 0; i < ${#ROWS[@]}; i += 2)); do
        # shellcheck disable=SC2086
        run "$preset" "$steps" "$batch" $i ${ROWS[$i]#*|} &
        if [ $((i + 1)) -lt ${#ROWS[@]} ]; then
            # shellcheck disable=SC2086
            run "$preset" "$steps" "$batch" $((i + 1)) ${ROWS[$((i + 1))]#*|} &
        fi
        wait
    done
    params=$("$CLI" train --preset "$preset" --dry-run | sed -n 's/^model [^:]*: \([0-9]*\) parameters.*/\1/p')
    # dense fp32 ring all-reduce: 2 (N-1)/N x 4 bytes per parameter per step
    local ring
    ring=$(awk -v p="$params" -v n=$WORKERS 'BEGIN { printf "%.0f", 2 * (n - 1) / n * 4 * p }')
    local base
    base=$(field "$work/$preset-0.json" val_loss)
    echo
    echo "### $preset: $params parameters, $WORKERS workers x batch $batch, $steps steps ($((SECONDS - t0)) s)"
    echo
    echo "| setting | val loss | gap vs AdamW | bytes / peer / step | reduction vs ring all-reduce |"
    echo "|---|---|---|---|---|"
    for ((i = 0; i < ${#ROWS[@]}; i++)); do
        local val per
        val=$(field "$work/$preset-$i.json" val_loss)
        # every round's payload over every optimizer step (a last round may be short)
        per=$(awk -F'"payload_bytes":' '{ split($2, a, ","); sum += a[1]; line = $0 }
            END { sub(/^\{"step":/, "", line); sub(/,.*/, "", line); printf "%.1f", sum / (line + 1) }' \
            "$work/$preset-$i.json")
        awk -v l="${ROWS[$i]%%|*}" -v v="$val" -v b="$base" -v p="$per" -v r="$ring" 'BEGIN {
            bytes = r; red = "1x (dense)";
            if (p > 0) { bytes = p; red = sprintf("%.0fx", r / p) }
            printf "| %s | %.4f | %+.2f%% | %.0f | %s |\n", l, v, 100 * (v - b) / b, bytes, red }'
    done
}

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
{
    echo "# Quality: loss against traffic"
    echo
    echo "Made by \`bash scripts/quality.sh\` on $(date -u +%Y-%m-%d), $cpu, $cores cores,"
    echo "one thread per run, two runs at a time. Every row trains $WORKERS simulated peers"
    echo "(\`distro-cli train --workers $WORKERS\`, peer ids 1..$WORKERS, each its own data,"
    echo "momentum or error feedback and inner state); AdamW trains one device on the union"
    echo "of their micro-batches (the same global batch, steps and tokens). Bytes are what"
    echo "each peer uploads per optimizer step (a round's payload divided by its steps); the"
    echo "ring all-reduce moves 2(N-1)/N x 4 bytes per parameter per step."
    table shakespeare $sh_steps 4
    table small $sm_steps 1
} | tee "$work/quality.md"
# What was tried and why stays: everything from the notes marker down.
if [ $quick = 0 ] && [ -f "$out" ] && grep -q '^<!-- notes -->' "$out"; then
    { echo; sed -n '/^<!-- notes -->/,$p' "$out"; } >>"$work/quality.md"
fi
[ $quick = 1 ] || cp "$work/quality.md" "$out"
[ $quick = 1 ] || echo "quality: wrote $out"
