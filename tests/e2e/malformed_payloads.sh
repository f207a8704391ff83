# Malformed payloads from an admitted (CURVE) peer: hostile_peer joins for
# real, then answers each ROUND with one crafted SUBMIT (truncated, wrong run
# id, wrong step, index out of range, repeated index, descending indices,
# NaN, bad magic, wrong chunk offset, a lie about its micro-batches) and
# checks that each comes back REFUSED with a reason naming the problem; then
# a second connection sends a frame over NET_MAX_FRAME, which the
# coordinator's transport answers by closing the connection; then a third
# connection acknowledges results with a hash of 0, which at a checked step
# is a missing hash and must bring a RESYNC (issue 11: it used to pass);
# then two connections send the same valid payload in one round, and the
# second must be refused as a copy (issue 11: it used to be applied).
# Meanwhile a normal cpu peer trains: the run finishes with the honest hash
# agreeing at every step, and no hostile payload is ever applied.
source "$(dirname "$0")/e2e_lib.sh"
need_curve

STEPS=30
CASES=10
admitted_keys honest hostile
# min_peers 2: the first round waits for the hostile peer. max_misses 50: a
# refused round counts as a miss, and three in a row would eject it before
# every case was tried. A short deadline bounds the round in which the
# oversized frame's connection vanishes.
run_config $STEPS '"min_peers": 2' '"max_misses": 50' '"round_deadline_s": 5' >"$WORK/run.json"

start_coordinator coordinator --config "$WORK/run.json" --keys "$WORK/coordinator.keys" --json \
    --summary "$WORK/summary.json" --record "$WORK/record.bin"
start honest "$CLI" join "$ADDR" --device cpu --name honest --keys "$WORK/honest.keys" \
    --server-key "$SERVER_KEY" --json --connect-timeout 60
HONEST=$E2E_PID
start hostile "$HOSTILE" "$ADDR" --keys "$WORK/hostile.keys" --server-key "$SERVER_KEY" \
    --name hostile
wait_exit "$E2E_PID" 200
rc=$?
cat "$WORK/hostile.out"
[ "$rc" = 0 ] || fail "hostile_peer exited $rc"
n=$(grep -v "case 'copied payload'" "$WORK/hostile.out" |
    grep -c "^hostile_peer: case '.*' at step [0-9]*: refused: ")
expect_eq "cases refused with their reason" "$n" $CASES
expect_grep "a copied payload was refused as a copy" \
    "case 'copied payload' at step [0-9]+: refused: a byte-identical copy of the payload of peer" \
    "$WORK/hostile.out"
expect_grep "a zero hash brought a resync" \
    "case 'zero hash' at step [0-9]+: the coordinator asked for a resync" "$WORK/hostile.out"
# The coordinator's JSON events, by kind and peer name: "NAME|TEXT" lines.
events() { paste -d'|' <(jl "$WORK/coordinator.out" "[event=$1].name") \
    <(jl "$WORK/coordinator.out" "[event=$1].text"); }
expect_grep "the coordinator resynced the zero-hash peer, naming the missing hash" \
    "^hostile-zero-hash\|.*it reported no hash after step [0-9]+, a checked step" <(events resync)
expect_grep "the oversized frame closed its connection" \
    "case 'oversized frame \([0-9]+ bytes\)' at step [0-9]+: the coordinator closed the connection" \
    "$WORK/hostile.out"

wait_exit "$COORD_PID" 120
rc=$?
expect_eq "the coordinator's exit status" "$rc" 0
wait_exit "$HONEST" 30
rc=$?
expect_eq "the honest peer's exit status" "$rc" 0

n=$(jl "$WORK/coordinator.out" '[event=refused].name' | grep -c '^hostile$')
expect_eq "refused events for hostile in the coordinator's log" "$n" $CASES
expect_eq "refused events for anyone but the hostile connections" \
    "$(jl "$WORK/coordinator.out" '[event=refused].name' | grep -cv '^hostile')" 0

S=$WORK/summary.json
jv steps "$S" .steps
expect_eq "summary steps" "$steps" $STEPS
jv checked "$S" .steps_hash_checked
expect_eq "steps_hash_checked" "$checked" $STEPS
# One step's reports include the zero-hash peer's, so that step disagreed.
jv agreeing "$S" .steps_hash_agreeing
expect_eq "steps_hash_agreeing (all but the zero hash's)" "$agreeing" $((STEPS - 1))
jv v "$S" '.peers[name=hostile-zero-hash].resyncs'
expect_eq "hostile-zero-hash resyncs" "$v" 1
# Every step applied the honest payload, and in the copy case's step also
# the original of the copied pair (never the copy); the pair may come
# before the honest peer's first round, so that step may hold 1 or 2.
jv applied "$S" '.step_records[*].applied'
expect_eq "payloads applied per step (1 or 2)" "$(echo "$applied" | grep -cv '^[12]$')" 0
# Either connection of the pair may arrive first; exactly one is applied.
jv v1 "$S" '.peers[name=hostile-original].steps_applied'
jv v2 "$S" '.peers[name=hostile-copy].steps_applied'
expect_eq "rounds applied to the copying pair together" "$((v1 + v2))" 1
jv v "$S" '.peers[name=honest].steps_applied'
# (The copied pair may have the first round to itself, before the honest
# peer is in.)
expect_gt "honest steps_applied" "$v" $((STEPS - 2))
jv v "$S" '.peers[name=hostile].steps_applied'
expect_eq "hostile steps_applied" "$v" 0
jv v "$S" '.peers[name=hostile].refusals'
expect_eq "hostile refusals" "$v" $CASES
jv v "$S" '.peers[name=hostile].resyncs'
expect_eq "hostile resyncs (its replica stayed equal)" "$v" 0
jv v "$S" '.peers[name=hostile].left'
expect_eq "hostile left" "$v" left
jv v "$S" '.peers[name=hostile-oversized].steps_applied'
expect_eq "hostile-oversized steps_applied" "$v" 0
jv v "$S" '.peers[name=hostile-oversized].left'
[ -n "$v" ] || fail "the oversized frame's peer is not reported as gone"
note "ok: hostile-oversized left: $v"
# While the hostile peers followed the run, their replicas' hashes were
# checked too (and agreed: steps_hash_agreeing above, no resyncs): some
# steps had more than the honest peer's report.
jv rep "$S" '.step_records[*].hashes_reported'
expect_gt "most hash reports in a step" "$(echo "$rep" | sort -n | tail -1)" 1

peer_hashes_match "$WORK/honest.out" "$S"
expect_eq "honest hashes equal to the coordinator's" "$MATCHED" $STEPS
peer_finished honest "$WORK/honest.out" "$WORK/honest.err" $STEPS
jv final "$S" '.step_records[-1].hash'
jv run_id "$S" .run_id
"$REPLAY" "$WORK/run.json" "$WORK/record.bin" --run-id "$run_id" >"$WORK/replay.out" \
    2>"$WORK/replay.err" || fail "replay_record failed: $(cat "$WORK/replay.err")"
expect_grep "replay reproduces every step and the final hash" \
    "^replayed $STEPS rounds on cpu: steps $STEPS, $STEPS hashes checked, final hash $final\$" \
    "$WORK/replay.out"
note "pass"
