# Divergence and leaving: three open peers. One is a test peer
# (diverging_peer, next to hostile_peer) that flips a weight bit of its
# replica after step 4, so its hash for that step differs: the coordinator must log the mismatch, resync
# that peer from its own weights, and the peer must agree at every later
# step. Another peer gets SIGINT mid-run and must leave cleanly (LEAVE, exit
# 130), logged by the coordinator as left. The run finishes regardless.
source "$(dirname "$0")/e2e_lib.sh"
DIVERGING=$(dirname "$HOSTILE")/diverging_peer
[ -x "$DIVERGING" ] || fail "no diverging_peer next to $HOSTILE"

STEPS=20
# min_peers 3: the test peer trains nothing, so without it the run could be
# over before the two real peers have measured their devices.
run_config $STEPS '"tokens_per_round": 384' '"round_deadline_s": 20' '"min_peers": 3' >"$WORK/run.json"
start_coordinator coordinator --config "$WORK/run.json" --open --summary "$WORK/summary.json" --json
# 50 ms of link latency each way on the real peers: a round takes at least
# 0.1 s, so the run is still going when the leaver's LEAVE arrives (without
# it 14 steps took 0.4 s, and once the run ended first: no "left" event).
start honest "$CLI" join "$ADDR" --device cpu --name honest --json --latency-ms 50
HONEST=$E2E_PID
start corrupt "$DIVERGING" "$ADDR" --open --name corrupt --flip-after 4
CORRUPT=$E2E_PID
start leaver "$CLI" join "$ADDR" --device cpu --name leaver --json --latency-ms 50
LEAVER=$E2E_PID

wait_for "the run to reach step 7" 120 grep -q '"step":6,' "$WORK/coordinator.out"
wait_for "the leaver to hold the run's weights" 60 grep -q "'leaver' holds the weights" \
    "$WORK/coordinator.out"
kill -INT "$LEAVER"
wait_exit "$LEAVER" 30
rc=$?
expect_eq "the leaver's exit status after SIGINT" "$rc" 130
expect_grep "the leaver says it left" "left the run at step" "$WORK/leaver.out"

wait_exit "$COORD_PID" 120
rc=$?
expect_eq "the coordinator's exit status" "$rc" 0
for pid in "$HONEST" "$CORRUPT"; do
    wait_exit "$pid" 30
    rc=$?
    expect_eq "a surviving peer's exit status" "$rc" 0
done

expect_grep "the corrupting peer flipped a bit after step 4" "flipped one weight bit after step 4" \
    "$WORK/corrupt.out"
# The coordinator's JSON events, not its sentences: one resync, of corrupt.
expect_eq "resync events in the coordinator's log" \
    "$(jl "$WORK/coordinator.out" '[event=resync].name' | tr '\n' ' ')" "corrupt "
expect_grep "the resync names the divergent step" \
    "its hash [0-9a-f]+ after step 4 differs" <(jl "$WORK/coordinator.out" '[event=resync].text')
expect_grep "the peer was asked to resync" "asks me to resync" "$WORK/corrupt.out"
expect_eq "left events in the coordinator's log" \
    "$(jl "$WORK/coordinator.out" '[event=left].name' | tr '\n' ' ')" "leaver "

S=$WORK/summary.json
jv steps "$S" .steps
expect_eq "summary steps" "$steps" $STEPS
jv checked "$S" .steps_hash_checked
expect_eq "steps_hash_checked" "$checked" $STEPS
jv agreeing "$S" .steps_hash_agreeing
expect_eq "steps_hash_agreeing (all but the corrupted step)" "$agreeing" $((STEPS - 1))
jv bad "$S" '.step_records[step=4].hashes_agreeing'
jv reported "$S" '.step_records[step=4].hashes_reported'
expect_eq "step 4: agreeing = reported - 1" "$bad" $((reported - 1))
jv resyncs "$S" '.peers[name=corrupt].resyncs'
expect_eq "the corrupting peer's resyncs" "$resyncs" 1
jv left "$S" '.peers[name=leaver].left'
expect_eq "the leaver's departure" "$left" left
jv honest_resyncs "$S" '.peers[name=honest].resyncs'
expect_eq "the honest peer's resyncs" "$honest_resyncs" 0

# After the resync the corrupting peer agrees with the coordinator again.
late=0
while read -r step hash; do
    [ "$step" -gt 4 ] && [ "$hash" != 0000000000000000 ] || continue
    want=$(coord_hash "$S" "$step") || fail "no coordinator record of step $step"
    [ "$hash" = "$want" ] || fail "corrupt: hash $hash after step $step, the coordinator's $want"
    late=$((late + 1))
done < <(paste -d' ' <(jl "$WORK/corrupt.out" '[event=step].step') \
    <(jl "$WORK/corrupt.out" '[event=step].hash'))
expect_gt "steps after the resync on which the corrupting peer agreed" "$late" 5
note "PASS"
