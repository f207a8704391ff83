# `distro-cli train --workers 2` simulates two peers in one process: each
# with its own data stream (peer ids 1 and 2), its own momentum or error
# feedback and inner AdamW state, aggregated as the coordinator does. A
# networked run with the same config and the same micro-batch split (even,
# one micro-batch per peer per step) must give the same parameter hash
# after every round, for DeMo and for local steps. Everything runs on the
# cpu with one thread, so gradients are the same bits in every process.
source "$(dirname "$0")/e2e_lib.sh"
need_curve
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# tiny: seq_len 32, micro_batch 4 -> 128 tokens per peer per optimizer step
common_train=(--preset tiny --device cpu --workers 2 --batch 4 --accum 1 --seed 1 --warmup 2
    --final-lr-frac 0.1 --weight-decay 0.1 --clip 1 --chunk 32 --topk 8 --values fp32
    --eval-every 0 --eval-batches 2 --json --hashes)

check() { # NAME ROUNDS OPTIMIZER_JSON TRAIN_ARGS...
    local name=$1 rounds=$2 opt=$3
    shift 3
    "$CLI" train "${common_train[@]}" "$@" >"$WORK/$name-train.out" 2>"$WORK/$name-train.err" ||
        fail "$name: distro-cli train failed: $(tail -n 3 "$WORK/$name-train.err")"
    {
        echo "{\"run\": {\"model\": \"tiny\", \"steps\": $rounds, \"micro_batch\": 4,"
        echo " \"tokens_per_round\": 256, \"split\": \"even\", \"seed\": 1, \"min_peers\": 2,"
        echo " \"eval_batches\": 2, \"checkpoint_every\": 0, \"round_deadline_s\": 120,"
        echo " \"optimizer\": $opt},"
        echo ' "peers": [{"name": "a", "device": "cpu", "threads": 1},'
        echo '           {"name": "b", "device": "cpu", "threads": 1}],'
        echo ' "baseline": false, "sample_tokens": 0}'
    } >"$WORK/scenario.json"
    play_scenario
    expect_all_steps_agree "$rounds"
    local sim net
    sim=$(jl "$WORK/$name-train.out" '[*].hash' | tr '\n' ' ')
    jv net "$S" '.step_records[*].hash'
    net=$(echo "$net" | tr '\n' ' ')
    [ "$(echo "$sim" | wc -w)" = "$rounds" ] || fail "$name: train printed $(echo "$sim" | wc -w) hashes, expected $rounds"
    expect_eq "$name: hashes after every round, simulated vs networked" "$sim" "$net"
    mv "$KEEP" "$WORK/run-$name"
}

check demo 6 '{"name": "demo", "lr": 3e-3, "warmup": 2, "final_lr_frac": 0.1, "weight_decay": 0.1, "clip": 1, "beta": 0.999, "chunk": 32, "topk": 8, "values": "fp32"}' \
    --optimizer demo --steps 6 --lr 3e-3 --beta 0.999
# 4 rounds of 4 inner steps: 16 optimizer steps.
check local 4 '{"name": "local", "lr": 1e-3, "warmup": 2, "final_lr_frac": 0.1, "weight_decay": 0.1, "clip": 1, "beta": 0.95, "chunk": 32, "topk": 8, "values": "fp32", "inner_steps": 4, "outer_lr": 1, "outer": "scaled"}' \
    --optimizer local --steps 16 --inner-steps 4 --lr 1e-3 --beta 0.95 --outer-lr 1

# The AdamW baseline of `run` trains on exactly the micro-batches the rounds
# applied (peer 1 and peer 2, micro-batch 0, every optimizer step): the same
# as `train --optimizer adamw --workers 2`, so the same validation loss.
sed -i 's/"baseline": false/"baseline": true, "baseline_lr": 2e-3/' "$WORK/scenario.json"
start run "$CLI" run "$WORK/scenario.json" --summary "$WORK/with-baseline.json"
wait_exit "$E2E_PID" 240 || fail "distro-cli run with its baseline failed"
"$CLI" train "${common_train[@]}" --optimizer adamw --steps 16 --lr 2e-3 \
    >"$WORK/adamw-train.out" 2>"$WORK/adamw-train.err" || fail "train adamw failed"
jv base "$WORK/with-baseline.json" .baseline_val_loss
want=$(jl "$WORK/adamw-train.out" '[-1].val_loss')
expect_eq "baseline val loss, run vs train --workers 2 (AdamW)" "$(printf '%.5f' "$base")" \
    "$(printf '%.5f' "$want")"
note "passed"
