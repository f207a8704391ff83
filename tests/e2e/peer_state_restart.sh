# join --state FILE keeps a peer's own optimizer state (local steps: error
# feedback, inner AdamW moments, inner update count). A peer killed with
# SIGKILL mid-run and started again with the same file is welcomed into the
# same run, loads its state back ("restored ... of round R"), and the run
# ends with every replica's hash agreeing. A file from another run is
# refused with a log line and the peer starts from zero, without an error.
source "$(dirname "$0")/e2e_lib.sh"
E2E_OPTIMIZER=local # rounds of 3 inner steps (run_config)

ROUNDS=24
# The round the kill interrupts waits out its 5 s deadline.
run_config $ROUNDS '"min_peers": 1' '"round_deadline_s": 5' >"$WORK/run.json"
start_coordinator coordinator --config "$WORK/run.json" --open --summary "$WORK/summary.json"
COORD=$COORD_PID
STATE=$WORK/a.state
# 120 ms of latency: each round takes a quarter second, time to kill mid-run.
start a1 "$CLI" join "$ADDR" --device cpu --name a --json --state "$STATE" --state-every 1 \
    --latency-ms 120
A1=$E2E_PID
start b "$CLI" join "$ADDR" --device cpu --name b --json --latency-ms 120
B=$E2E_PID
wait_for "peer a to apply 6 rounds" 60 \
    bash -c "[ \"\$(grep -c '\"event\":\"step\"' '$WORK/a1.out')\" -ge 6 ]"
kill -9 "$A1"
wait "$A1" 2>/dev/null
SAVED=$(grep -c '"event":"step"' "$WORK/a1.out")
[ -s "$STATE" ] || fail "peer a left no state file"
note "ok: peer a killed after $SAVED rounds, its state file holds $(stat -c %s "$STATE") bytes"

start a2 "$CLI" join "$ADDR" --device cpu --name a --json --state "$STATE" --state-every 1
A2=$E2E_PID
wait_exit "$COORD" 120
expect_eq "the coordinator's exit status" "$?" 0
wait_exit "$A2" 30
expect_eq "the restarted peer's exit status" "$?" 0
wait_exit "$B" 30
expect_grep "the restarted peer restored its state" \
    '"text":"--state [^"]*: restored my optimizer state of round [0-9]+ \([0-9]+ inner updates\)"' \
    "$WORK/a2.out"
round=$(grep -o 'restored my optimizer state of round [0-9]*' "$WORK/a2.out" | grep -o '[0-9]*$')
inner=$(grep -o '([0-9]* inner updates)' "$WORK/a2.out" | grep -o '[0-9]*' | head -n 1)
[ "$round" -ge 5 ] || fail "restored round $round, expected one of the rounds before the kill"
# 3 inner updates for every round the first process trained (not for rounds
# it only applied, such as one that began before it was in sync).
trained=0
while read -r step submitted; do
    [ "$step" -lt "$round" ] && [ "$submitted" = true ] && trained=$((trained + 1))
done < <(paste -d' ' <(jl "$WORK/a1.out" '[event=step].step') <(jl "$WORK/a1.out" '[event=step].submitted'))
# A round that closed with nothing applied (a loaded machine misses the
# deadline) starts again: its peers train it twice, and the inner AdamW
# state keeps both passes. Each such restart before the saved round allows
# 3 more.
restarts=$(grep -oE 'step [0-9]+: no payload was applied' "$WORK/coordinator.out" |
    awk -v r="$round" '$2 + 0 < r' | wc -l)
[ "$inner" -ge $((trained * 3)) ] && [ "$inner" -le $(((trained + restarts) * 3)) ] &&
    [ $((inner % 3)) = 0 ] ||
    fail "inner updates restored: $inner, expected 3 per round trained before round $round ($trained), plus 3 per restarted round ($restarts)"
note "ok: inner updates restored: $inner (3 x $trained trained rounds, $restarts restarted rounds before round $round)"
S=$WORK/summary.json
jv agreeing "$S" .steps_hash_agreeing
jv checked "$S" .steps_hash_checked
expect_eq "every checked round agreed" "$agreeing" "$checked"
peer_hashes_match "$WORK/a2.out" "$S"
expect_gt "the restarted peer's hashes equal to the coordinator's" "$MATCHED" 0

# Another run (a new run id): the file is not used, and that is no error.
start_coordinator other --config "$WORK/run.json" --open --summary "$WORK/other.json"
start a3 "$CLI" join "$ADDR" --device cpu --name a --json --state "$STATE"
wait_exit "$COORD_PID" 120
expect_eq "the second coordinator's exit status" "$?" 0
wait_exit "$E2E_PID" 30
expect_eq "the peer's exit status in another run" "$?" 0
expect_grep "a state of another run is not used" \
    '"text":"--state [^"]*: not used \(it belongs to run [0-9a-f]+, this is run [0-9a-f]+\)' \
    "$WORK/a3.out"
note "pass"
