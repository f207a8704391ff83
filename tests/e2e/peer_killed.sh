# A peer killed with SIGKILL mid-run: the run finishes, the other replicas'
# hashes stay equal to the coordinator's at every step, and the killed peer
# is reported as gone. Runs open (--open, no CURVE) to cover that mode too.
source "$(dirname "$0")/e2e_lib.sh"

STEPS=12
KILL=4
# The victim's link has 500 ms of latency each way, so it dies holding a
# ROUND it has not answered. The coordinator must notice the closed
# connection at once (the transport's socket monitor) and close the round
# without it, not wait for the round's deadline (4 s here, 60 s by
# default). The other two have no latency.
cat >"$WORK/scenario.json" <<EOF
{"run": $(run_config $STEPS '"tokens_per_round": 384' '"min_peers": 3' '"round_deadline_s": 4'),
 "auth": "open",
 "peers": [{"name": "a", "device": "cpu"}, {"name": "b", "device": "cpu"},
           {"name": "victim", "device": "cpu", "kill_step": $KILL, "latency_ms": 500}],
 "baseline": false, "sample_tokens": 0}
EOF

play_scenario

expect_grep "the victim was killed" "killed peer victim with SIGKILL at step" "$WORK/run.out"
expect_grep "the coordinator ran open" "coordinator listening on 127.0.0.1:[0-9]+ \(open\)" \
    "$WORK/run.out"
expect_all_steps_agree $STEPS
# At every step at least the two survivors reported, and all agreed.
for s in $(seq 0 $((STEPS - 1))); do
    jv rep "$S" ".step_records[step=$s].hashes_reported"
    jv agr "$S" ".step_records[step=$s].hashes_agreeing"
    [ "$rep" -ge 2 ] && [ "$agr" = "$rep" ] ||
        fail "step $s: $agr of $rep reported hashes agree (expected >= 2, all)"
done
note "ok: every step: at least 2 hashes reported, all equal to the coordinator's"

jv left "$S" '.peers[name=victim].left'
[ -n "$left" ] || fail "the killed peer is not reported as gone"
note "ok: victim left: $left"
# The coordinator's JSON events, kept by run: a left event for the victim.
expect_grep "the coordinator dropped the victim when its connection closed" \
    "^victim\|.*dropped: its connection closed" \
    <(paste -d'|' <(jl "$KEEP/coordinator.log" '[event=left].name') \
        <(jl "$KEEP/coordinator.log" '[event=left].text'))
jv secs "$S" ".step_records[step=$KILL].seconds"
[ "${secs%%.*}" -lt 3 ] ||
    fail "step $KILL took $secs s; the closed connection should have ended the wait before the 4 s deadline"
note "ok: step $KILL did not wait for its deadline ($secs s)"
jv contrib "$S" ".step_records[step=$KILL].applied"
expect_eq "contributors in step $KILL (the survivors)" "$contrib" 2
jv victim_applied "$S" '.peers[name=victim].steps_applied'
expect_gt "victim steps_applied (before the kill)" "$victim_applied" 0
expect_lt "victim steps_applied" "$victim_applied" $STEPS
last=$(jl "$KEEP/peer-victim.log" '[event=step].step' | tail -n 1)
expect_lt "victim's last logged step" "${last:-0}" $((STEPS - 1))

for name in a b; do
    jv applied "$S" ".peers[name=$name].steps_applied"
    expect_eq "survivor $name steps_applied" "$applied" $STEPS
    jv left "$S" ".peers[name=$name].left"
    expect_eq "survivor $name left" "$left" ""
    peer_hashes_match "$KEEP/peer-$name.log" "$S"
    expect_eq "survivor $name hashes equal to the coordinator's" "$MATCHED" $STEPS
    peer_finished "$name" "$KEEP/peer-$name.log" "$KEEP/peer-$name.err" $STEPS
done
# After the kill the rounds had two contributors: the victim's payload is in
# no round after it died.
jv after "$S" ".step_records[-1].applied"
expect_eq "contributors in the last round" "$after" 2

jv final "$S" '.step_records[-1].hash'
"$REPLAY" "$KEEP/run.json" "$KEEP/record.bin" >"$WORK/replay.out" 2>"$WORK/replay.err" ||
    fail "replay_record failed: $(cat "$WORK/replay.err")"
expect_grep "replay reproduces every step and the final hash" \
    "^replayed $STEPS rounds on cpu: steps $STEPS, $STEPS hashes checked, final hash $final\$" \
    "$WORK/replay.out"
note "pass"
