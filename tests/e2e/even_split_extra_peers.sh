# More peers than micro-batches under "split": "even": tokens_per_round 128
# with micro_batch 4 is one micro-batch, and two peers join. Before the fix
# the second peer was assigned 0 micro-batches, trained nothing, reported
# loss 0/0 = NaN, could not encode its SUBMIT and `join` exited 1. Now only
# the peers that get work take part in a round (the lowest ids); the other
# stays synced, applies every result and reports the same hashes.
source "$(dirname "$0")/e2e_lib.sh"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 # one core each: the machine has two

STEPS=3
run_config $STEPS '"split": "even"' '"min_peers": 2' '"round_deadline_s": 60' >"$WORK/run.json"
start_coordinator coordinator --config "$WORK/run.json" --open --summary "$WORK/summary.json" --json
for name in a b; do
    start "$name" "$CLI" join "$ADDR" --device cpu --name "$name" --json --connect-timeout 60
    eval "PID_$name=$E2E_PID"
done
wait_exit "$COORD_PID" 120
rc=$?
expect_eq "the coordinator's exit status" "$rc" 0
S=$WORK/summary.json
expect_all_steps_agree $STEPS
total=0
for name in a b; do
    pid_var=PID_$name
    wait_exit "${!pid_var}" 60
    expect_eq "peer $name's exit status" "$?" 0
    peer_finished "$name" "$WORK/$name.out" "$WORK/$name.err" $STEPS
    peer_hashes_match "$WORK/$name.out" "$S"
    expect_gt "hashes peer $name checked" "$MATCHED" 0
    jv applied "$S" ".peers[name=$name].steps_applied"
    total=$((total + applied))
done
# One micro-batch a round: exactly one payload applied per step.
expect_eq "payloads applied over the run" "$total" $STEPS
