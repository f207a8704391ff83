# A HELLO flood (issue 11): connections that say HELLO and vanish, and
# connections that say HELLO and then stay silent, must not keep honest
# peers out. Before the fix, 500 HELLO-and-close connections filled every
# slot for good ("the run is full") and the run never started.
#
# Each flooder holds an admitted key of its own (CURVE), as a real attacker
# with a stolen or rented key would. 'flood' sends 500 HELLO-and-close
# connections: each closed connection frees its slot at once, and the key
# is soon made to back off. Then 'hold' keeps 40 silent joins open for 6 s
# while the honest peers join: the per-key limit and the bounded joining
# queue keep room for them, and the silent joiners expire after
# join_timeout_s. The honest peers must train every step with hashes equal
# to the coordinator's.
# The honest peers' 100 ms link latency keeps the run going well past the
# silent joiners' expiry however fast the machine (30 fast steps once ended
# the run before it).
source "$(dirname "$0")/e2e_lib.sh"
need_curve
FLOOD=$(dirname "$HOSTILE")/flood_peer
[ -x "$FLOOD" ] || fail "no flood_peer next to $HOSTILE"

STEPS=30
admitted_keys a b flood hold
run_config $STEPS '"min_peers": 2' '"join_timeout_s": 2' '"round_deadline_s": 10' >"$WORK/run.json"
start_coordinator coordinator --config "$WORK/run.json" --keys "$WORK/coordinator.keys" --json \
    --summary "$WORK/summary.json"
start flood "$FLOOD" "$ADDR" --keys "$WORK/flood.keys" --server-key "$SERVER_KEY" hello-flood 500
wait_exit "$E2E_PID" 120 >/dev/null
cat "$WORK/flood.out"
start hold "$FLOOD" "$ADDR" --keys "$WORK/hold.keys" --server-key "$SERVER_KEY" hello-hold 40 6
HOLD=$E2E_PID
sleep 1
for name in a b; do
    start "$name" "$CLI" join "$ADDR" --device cpu --name "$name" \
        --keys "$WORK/$name.keys" --server-key "$SERVER_KEY" --json --connect-timeout 60 \
        --latency-ms 100
    eval "PID_$name=$E2E_PID"
done
wait_exit "$HOLD" 60 >/dev/null
cat "$WORK/hold.out"

wait_exit "$COORD_PID" 180
rc=$?
expect_eq "the coordinator's exit status" "$rc" 0
peers_trained_every_step $STEPS a b
S=$WORK/summary.json
expect_all_steps_agree $STEPS
# The coordinator's JSON events, by kind and peer name: "NAME|TEXT" lines.
OUT=$WORK/coordinator.out
left() { paste -d'|' <(jl "$OUT" '[event=left].name') <(jl "$OUT" '[event=left].text'); }
expect_grep "silent joiners lost their slots" \
    "^hold\|peer [0-9]+ 'hold' dropped: it did not finish joining \(no progress for 2 s\)" <(left)
expect_grep "HELLO-and-close connections were dropped at once" \
    "^flood\|.*dropped: its connection closed" <(left)
expect_grep "the key was held to its limit" "this key already holds 4 peer slots" \
    <(jl "$OUT" '[event=rejected].text')
expect_grep "the flooding key was made to back off" "this key misbehaved [0-9]+ times? recently" \
    <(jl "$OUT" '[event=rejected].text')
n=$(jl "$OUT" '[event=joined].name' | grep -c '^flood$' || true)
expect_lt "slots the flooder ever got (of 500 HELLOs)" "$n" 50
note "ok: the flooder got $n slots for 500 HELLOs"
