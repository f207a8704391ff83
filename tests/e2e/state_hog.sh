# Weights hoarding (issue 11): two connections join, then ask 1,200 times
# each for the whole weights and never read. Before the fix the
# coordinator queued a copy per request (20 MB grew to 952 MB) and its
# blocking sends made honest peers miss deadlines. Now a joiner is served
# its snapshot at most twice, sends never wait (a bounded queue per
# connection), and the abuse drops the connection: coordinator memory stays
# bounded (asserted on its peak RSS) and the honest peers train every step.
source "$(dirname "$0")/e2e_lib.sh"
FLOOD=$(dirname "$HOSTILE")/flood_peer
[ -x "$FLOOD" ] || fail "no flood_peer next to $HOSTILE"

STEPS=20
RSS_BOUND_KB=150000 # the tiny run itself needs well under 100 MB
run_config $STEPS '"min_peers": 2' '"round_deadline_s": 10' >"$WORK/run.json"
start_coordinator coordinator --config "$WORK/run.json" --open --summary "$WORK/summary.json" --json
# The coordinator's peak RSS (VmHWM only grows), sampled until it exits.
(while kill -0 "$COORD_PID" 2>/dev/null; do
    awk '/^VmHWM:/ {print $2}' "/proc/$COORD_PID/status" 2>/dev/null >"$WORK/hwm.next" &&
        mv "$WORK/hwm.next" "$WORK/hwm"
    sleep 0.2
done) &
start hog "$FLOOD" "$ADDR" --open state-hog 1200 8
HOG=$E2E_PID
sleep 2
for name in a b; do
    start "$name" "$CLI" join "$ADDR" --device cpu --name "$name" --json --connect-timeout 60
    eval "PID_$name=$E2E_PID"
done
wait_exit "$HOG" 60 >/dev/null
cat "$WORK/hog.out"
wait_exit "$COORD_PID" 120
rc=$?
expect_eq "the coordinator's exit status" "$rc" 0
peak=$(cat "$WORK/hwm" 2>/dev/null || echo 0)
[ "$peak" -gt 0 ] || fail "could not read the coordinator's peak RSS"
expect_lt "coordinator peak RSS in kB after 2400 weight requests" "$peak" $RSS_BOUND_KB
peers_trained_every_step $STEPS a b
S=$WORK/summary.json
expect_all_steps_agree $STEPS
left=$(paste -d'|' <(jl "$WORK/coordinator.out" '[event=left].name') \
    <(jl "$WORK/coordinator.out" '[event=left].text'))
expect_eq "hoarders dropped for asking again and again" \
    "$(echo "$left" | grep -c "^hog|.*dropped: asked for the weights over and over")" 2
expect_no_grep "no honest peer missed a deadline" "'[ab]' missed the deadline" \
    <(jl "$WORK/coordinator.out" '[event=log].text')
