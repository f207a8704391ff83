# A peer turned away because its address already holds its share of slots
# (LIMIT) waits and asks again, a few times, instead of exiting at once: a
# peer reconnecting at that limit can have its HELLO read in the same batch
# as its old connection's close, which the coordinator acts on only after
# the batch. Here the slot frees for real: with one slot per address, peer
# b is refused while a trains, a is killed, and b then gets the slot and
# trains to the end. Before, b exited at its first refusal. A peer whose
# limit never frees still gives up, naming the limit.
source "$(dirname "$0")/e2e_lib.sh"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

STEPS=12
run_config $STEPS '"min_peers": 1' '"round_deadline_s": 10' >"$WORK/run.json"
start_coordinator coordinator --config "$WORK/run.json" --open --json \
    --summary "$WORK/summary.json" --max-peers-per-address 1
# 200 ms of latency each way keeps each round long enough for b to be
# refused before the run ends.
start a "$CLI" join "$ADDR" --device cpu --name a --json --connect-timeout 60 --latency-ms 200
PID_a=$E2E_PID
OUT=$WORK/coordinator.out
coord_step() { jl "$OUT" '[event=step].step' 2>/dev/null | tail -1; }
at_step() { local s; s=$(coord_step); [ -n "$s" ] && [ "$s" -ge "$1" ]; }
wait_for "peer a to train" 60 at_step 1
start b "$CLI" join "$ADDR" --device cpu --name b --json --connect-timeout 60
PID_b=$E2E_PID
refused() { grep -q "already holds 1 peer slot" "$WORK/b.out" "$WORK/b.err" 2>/dev/null; }
wait_for "peer b to be refused for the address's limit" 30 refused
kill -9 "$PID_a" 2>/dev/null
note "peer a killed at step $(coord_step); b is waiting for the slot"
wait_exit "$PID_b" 120
rc=$?
expect_eq "peer b's exit status" "$rc" 0
wait_exit "$COORD_PID" 60
jv b_applied "$WORK/summary.json" '.peers[name=b].steps_applied'
expect_gt "steps applied with b's payload" "$b_applied" 0

# An address whose one slot stays taken: the fourth peer gives up after a
# few refusals, naming the limit. (A long run: it must outlast them.)
run_config 1000 '"min_peers": 1' '"round_deadline_s": 10' >"$WORK/long.json"
start_coordinator coordinator2 --config "$WORK/long.json" --open --json --max-peers-per-address 1
start c "$CLI" join "$ADDR" --device cpu --name c --json --connect-timeout 60 --latency-ms 200
wait_for "peer c to join" 60 grep -q '"event":"joined"' "$WORK/coordinator2.out"
start d "$CLI" join "$ADDR" --device cpu --name d --connect-timeout 60
PID_d=$E2E_PID
wait_exit "$PID_d" 60
rc=$?
[ "$rc" -ne 0 ] || fail "peer d, always over its address's limit, exited 0"
kill -0 "$COORD_PID" 2>/dev/null || fail "the second run ended before peer d gave up: nothing was shown"
expect_grep "peer d names the limit" "rejected this peer: this address already holds 1 peer slot" \
    "$WORK/d.err"
note "ok: b took the freed slot and trained; d gave up after its refusals, naming the limit"
