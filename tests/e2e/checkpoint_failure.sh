# Checkpoints that cannot be written do not stop a run (issue 11): the
# --checkpoint-dir is created at start (and one whose parent is missing is
# refused before any round); when a periodic write fails (here the folder is
# swapped for a plain file, so every write fails with ENOTDIR), the
# coordinator logs it and goes on, and once the folder is back the next
# interval writes again. The run ends with every hash agreeing.
source "$(dirname "$0")/e2e_lib.sh"

ROUNDS=24
run_config $ROUNDS '"min_peers": 1' '"checkpoint_every": 2' '"round_deadline_s": 10' \
    >"$WORK/run.json"

timeout 60 "$CLI" coordinator --config "$WORK/run.json" --open --listen tcp://127.0.0.1:0 \
    --checkpoint-dir "$WORK/missing/ck" >"$WORK/refused.out" 2>&1
expect_eq "exit status with a checkpoint folder whose parent is missing" "$?" 1
expect_grep "the missing folder is named at start" "checkpoint-dir $WORK/missing/ck: cannot create it" \
    "$WORK/refused.out"

CK=$WORK/ck
start_coordinator coordinator --config "$WORK/run.json" --open --checkpoint-dir "$CK" --json \
    --summary "$WORK/summary.json"
COORD=$COORD_PID
[ -d "$CK" ] || fail "the coordinator did not create $CK"
note "ok: the checkpoint folder was created at start"
start peer "$CLI" join "$ADDR" --device cpu --name peer --json --latency-ms 150
PEER=$E2E_PID
wait_for "the first checkpoint" 60 test -s "$CK/coordinator.safetensors"
mv "$CK" "$WORK/ck.saved"
touch "$CK"
# The coordinator's checkpoint events (JSON), not its other lines.
checkpoints() { jl "$WORK/coordinator.out" '[event=checkpoint].text' 2>/dev/null; }
failed_checkpoint() { checkpoints | grep -q "checkpoint of step [0-9]* failed"; }
wait_for "a failed checkpoint event" 60 failed_checkpoint
failed=$(checkpoints | grep -o "checkpoint of step [0-9]* failed" | head -n 1 | grep -o "[0-9]*")
rm "$CK"
mv "$WORK/ck.saved" "$CK"
note "ok: the write at step $failed failed and the run went on; the folder is back"
wait_exit "$COORD" 120
expect_eq "the coordinator's exit status" "$?" 0
wait_exit "$PEER" 30
# A periodic checkpoint after the failure (the final one at step $ROUNDS
# does not count): the next interval retried.
written=$(checkpoints | grep -o "checkpoint of step [0-9]* written" | grep -o "[0-9]*" |
    awk -v n=$ROUNDS '$1 < n' | tail -n 1)
expect_gt "a periodic checkpoint written after the failure at step $failed" "${written:-0}" "$failed"
S=$WORK/summary.json
jv steps "$S" .steps
expect_eq "summary steps" "$steps" $ROUNDS
jv agreeing "$S" .steps_hash_agreeing
expect_eq "steps_hash_agreeing" "$agreeing" $ROUNDS
note "pass"
