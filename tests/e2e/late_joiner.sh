# A late joiner at step 10: it pulls the weights (and replays the rounds
# since that snapshot), trains, and after its first applied round its hash
# equals the coordinator's and every other replica's.
source "$(dirname "$0")/e2e_lib.sh"
need_curve

STEPS=24
JOIN=10
# 150 ms of latency on the first two peers makes every round take at least
# 0.3 s, so the late peer (which needs a moment to start and measure its
# device) gets in well before the run ends, even on a busy machine.
cat >"$WORK/scenario.json" <<EOF
{"run": $(run_config $STEPS '"tokens_per_round": 256' '"min_peers": 2' '"round_deadline_s": 60'),
 "peers": [{"name": "a", "device": "cpu", "latency_ms": 150},
           {"name": "b", "device": "cpu", "latency_ms": 150},
           {"name": "late", "device": "cpu", "join_step": $JOIN}],
 "baseline": false, "sample_tokens": 0}
EOF

play_scenario

expect_all_steps_agree $STEPS

LOG=$KEEP/peer-late.log
expect_grep "the late peer pulled the weights" '"text":"loaded the weights of step [0-9]+ ' "$LOG"
jv late_applied "$S" '.peers[name=late].steps_applied'
expect_gt "late steps_applied" "$late_applied" 0
# Every hash the late peer logged, catch-up replays included, is the
# coordinator's hash of that step.
peer_hashes_match "$LOG" "$S"
expect_gt "late hashes equal to the coordinator's" "$MATCHED" 0
[ -n "$FIRST_APPLIED" ] || fail "the late peer's log shows no applied round of its own"
[ "$FIRST_APPLIED" -ge "$JOIN" ] ||
    fail "the late peer's first applied round is step $FIRST_APPLIED, before it joined at $JOIN"
note "ok: the late peer's first own round applied at step $FIRST_APPLIED (joined at $JOIN)"
# In that round and every one after, all three replicas reported hashes
# equal to the coordinator's.
for s in $(seq "$FIRST_APPLIED" $((STEPS - 1))); do
    jv rep "$S" ".step_records[step=$s].hashes_reported"
    jv agr "$S" ".step_records[step=$s].hashes_agreeing"
    [ "$rep" = 3 ] && [ "$agr" = 3 ] || fail "step $s: $agr of $rep hashes agree (expected 3 of 3)"
done
note "ok: steps $FIRST_APPLIED..$((STEPS - 1)): 3 of 3 replica hashes agree"
jv contrib "$S" ".step_records[step=$FIRST_APPLIED].applied"
expect_eq "contributors in the late peer's first round" "$contrib" 3
for name in a b; do
    jv applied "$S" ".peers[name=$name].steps_applied"
    expect_eq "peer $name steps_applied" "$applied" $STEPS
    peer_hashes_match "$KEEP/peer-$name.log" "$S"
    expect_eq "peer $name hashes equal to the coordinator's" "$MATCHED" $STEPS
done
for name in a b late; do
    peer_finished "$name" "$KEEP/peer-$name.log" "$KEEP/peer-$name.err" $STEPS
done

jv final "$S" '.step_records[-1].hash'
"$REPLAY" "$KEEP/run.json" "$KEEP/record.bin" >"$WORK/replay.out" 2>"$WORK/replay.err" ||
    fail "replay_record failed: $(cat "$WORK/replay.err")"
expect_grep "replay reproduces every step and the final hash" \
    "^replayed $STEPS rounds on cpu: steps $STEPS, $STEPS hashes checked, final hash $final\$" \
    "$WORK/replay.out"
note "pass"
