# Joiners that keep talking (finding E): 16 connections under one admitted
# key say HELLO, are welcomed and then never pull the weights, only send a
# stale HASH every second, for 40 s. Before the fix any frame refreshed a
# joiner's clock and only silent joiners expired, so the 16 squatters held
# every joining slot and an honest peer was told BUSY until they left.
# Now a join has a deadline that only progress (bytes of the weights
# pulled) moves: the squatters are dropped after join_timeout_s and the
# honest peer trains the whole run while they are still talking.
source "$(dirname "$0")/e2e_lib.sh"
need_curve
FLOOD=$(dirname "$HOSTILE")/flood_peer
[ -x "$FLOOD" ] || fail "no flood_peer next to $HOSTILE"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

STEPS=5
SQUAT_S=40
admitted_keys a squat
run_config $STEPS '"min_peers": 1' '"join_timeout_s": 2' '"round_deadline_s": 10' >"$WORK/run.json"
start_coordinator coordinator --config "$WORK/run.json" --keys "$WORK/coordinator.keys" --json \
    --summary "$WORK/summary.json" --max-peers-per-key 16
start squat "$FLOOD" "$ADDR" --keys "$WORK/squat.keys" --server-key "$SERVER_KEY" squat 16 $SQUAT_S
SQUAT=$E2E_PID
OUT=$WORK/coordinator.out
squatters_in() { [ "$(jl "$OUT" '[event=joined].name' 2>/dev/null | grep -c '^squat$')" -ge 16 ]; }
wait_for "16 squatters to be welcomed" 30 squatters_in
start a "$CLI" join "$ADDR" --device cpu --name a --keys "$WORK/a.keys" \
    --server-key "$SERVER_KEY" --json --connect-timeout 60
PID_a=$E2E_PID
# The whole run fits well inside the squatters' 40 s (a few seconds on a
# loaded machine); before the fix it could not start before they left.
wait_exit "$COORD_PID" $((SQUAT_S - 10))
rc=$?
expect_eq "the coordinator's exit status" "$rc" 0
kill -0 "$SQUAT" 2>/dev/null || fail "the squatters stopped before the run ended: nothing was shown"
peers_trained_every_step $STEPS a
S=$WORK/summary.json
expect_all_steps_agree $STEPS
left() { paste -d'|' <(jl "$OUT" '[event=left].name') <(jl "$OUT" '[event=left].text'); }
n=$(left | grep -Ec "^squat\|peer [0-9]+ 'squat' dropped: it did not finish joining \(no progress for 2 s\)" || true)
expect_eq "squatters dropped for making no progress" "$n" 16
