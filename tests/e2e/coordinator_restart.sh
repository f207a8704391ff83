# The coordinator killed with SIGKILL at step 8 and restarted with --resume:
# it continues the same run from its last checkpoint, the peers reconnect by
# themselves, and the run finishes with every hash equal. The record file,
# which both coordinator processes appended to, replays bit for bit across
# the restart (replay_record --rewind).
source "$(dirname "$0")/e2e_lib.sh"
need_curve

STEPS=16
RESTART=8
# Latency makes a round take at least 0.2 s, so the kill lands near step 8
# and well before the end even when distro-cli run is slow to notice.
cat >"$WORK/scenario.json" <<EOF
{"run": $(run_config $STEPS '"tokens_per_round": 256' '"min_peers": 2' '"round_deadline_s": 30' \
    '"checkpoint_every": 3'),
 "peers": [{"name": "a", "device": "cpu", "latency_ms": 100},
           {"name": "b", "device": "cpu", "latency_ms": 100}],
 "restart_coordinator_at": $RESTART,
 "baseline": false, "sample_tokens": 0}
EOF

play_scenario
OUT=$WORK/run.out

expect_grep "the coordinator was killed" "killed the coordinator with SIGKILL at step" "$OUT"
# The restarted coordinator's resumed event (its JSON events, kept by run).
K=$(jl "$KEEP/coordinator.log" '[event=resumed].step' | head -n 1)
[ -n "$K" ] || fail "the restarted coordinator did not say it resumed (no resumed event)"
resumed_id=$(jl "$KEEP/coordinator.log" '[event=resumed].run_id' | head -n 1)
note "ok: resumed run $resumed_id at step $K"
[ "$K" -gt 0 ] && [ "$K" -lt $STEPS ] && [ $((K % 3)) = 0 ] ||
    fail "resumed at step $K: expected a checkpoint step (a multiple of 3) in 1..$((STEPS - 1))"
# The log is appended to across the restart: its first started event is the
# first coordinator's.
first_id=$(jl "$KEEP/coordinator.log" '[event=started].run_id' | head -n 1)
expect_eq "the resumed run id is the first coordinator's" "$resumed_id" "$first_id"
jv run_id "$S" .run_id
expect_eq "the summary's run id" "$run_id" "$first_id"

jv steps "$S" .steps
expect_eq "summary steps" "$steps" $STEPS
jv first_rec "$S" '.step_records[0].step'
expect_eq "the restarted coordinator's first step" "$first_rec" "$K"
jv checked "$S" .steps_hash_checked
expect_eq "steps_hash_checked (since the resume)" "$checked" $((STEPS - K))
jv agreeing "$S" .steps_hash_agreeing
expect_eq "steps_hash_agreeing" "$agreeing" $((STEPS - K))

for name in a b; do
    LOG=$KEEP/peer-$name.log
    expect_grep "peer $name reconnected by itself" "reconnected to the coordinator" "$LOG"
    jv applied "$S" ".peers[name=$name].steps_applied"
    expect_eq "peer $name steps_applied in the restarted coordinator" "$applied" $((STEPS - K))
    # The hashes it logged after reconnecting are the restarted coordinator's.
    awk '/reconnected to the coordinator/ {n = NR} {l[NR] = $0} END {for (i = n + 1; i <= NR; i++) print l[i]}' \
        "$LOG" >"$WORK/after-$name.log"
    peer_hashes_match "$WORK/after-$name.log" "$S"
    expect_eq "peer $name hashes after the restart equal to the coordinator's" "$MATCHED" \
        $((STEPS - K))
    peer_finished "$name" "$LOG" "$KEEP/peer-$name.err" $STEPS
done

jv final "$S" '.step_records[-1].hash'
"$REPLAY" "$KEEP/run.json" "$KEEP/record.bin" --rewind >"$WORK/replay.out" 2>"$WORK/replay.err" ||
    fail "replay_record --rewind failed: $(cat "$WORK/replay.err")"
expect_grep "the record goes back to the checkpoint step" \
    "goes back from step [0-9]+ to $K \(a coordinator resumed" "$WORK/replay.out"
expect_grep "replay across the restart reproduces every step and the final hash" \
    "^replayed [0-9]+ rounds on cpu: steps $STEPS, [0-9]+ hashes checked, final hash $final\$" \
    "$WORK/replay.out"

# A coordinator killed in the middle of appending a round to --record leaves
# a torn record at the end of the file; the resumed one must append after
# the last whole record, or the file is unreadable from there on. The kill
# above rarely lands inside a write, so play its effect deterministically:
# a copy of the record with half a round appended, and a coordinator
# resumed from the final checkpoint (step 16: it finishes at once).
cp "$KEEP/record.bin" "$WORK/torn.bin"
size=$(stat -c %s "$WORK/torn.bin")
head -c 100 "$KEEP/record.bin" >>"$WORK/torn.bin"
"$CLI" coordinator --config "$KEEP/run.json" --open --listen tcp://127.0.0.1:0 \
    --checkpoint-dir "$KEEP/checkpoint" --resume --record "$WORK/torn.bin" \
    >"$WORK/resume-torn.out" 2>"$WORK/resume-torn.err" &
E2E_PIDS+=("$!")
wait_exit "$!" 120
expect_eq "a coordinator resumed at the last step: exit" "$?" 0
expect_eq "the torn record was cut off" "$(stat -c %s "$WORK/torn.bin")" "$size"
expect_grep "the coordinator says it dropped the torn record" "torn" "$WORK/resume-torn.out"
"$REPLAY" "$KEEP/run.json" "$WORK/torn.bin" --rewind >/dev/null 2>"$WORK/replay-torn.err" ||
    fail "the record is unreadable after a resume: $(cat "$WORK/replay-torn.err")"
note "ok: the record replays after a resume that found a torn record"
note "pass"
