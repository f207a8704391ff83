# A peer started before its coordinator waits for it (--connect-timeout
# defaults to 60 s): issue 6 wants peers that reconnect by themselves, and
# a coordinator that is down for longer than a send timeout (a slow restart,
# a peer started first) must not kill them. The peer runs 7 s alone, then
# the coordinator comes up on the port it is dialling, and the run finishes
# with the peer applying every round.
source "$(dirname "$0")/e2e_lib.sh"

STEPS=6
run_config $STEPS >"$WORK/run.json"
# An ephemeral port: a first coordinator binds one and is stopped (SIGTERM
# before any step: it exits without a checkpoint).
start_coordinator probe --config "$WORK/run.json" --open
kill -TERM "$COORD_PID"
wait_exit "$COORD_PID" 30
PORT=${ADDR##*:}

start early "$CLI" join "$ADDR" --device cpu --name early --json
EARLY=$E2E_PID
sleep 7
kill -0 "$EARLY" 2>/dev/null ||
    fail "the peer gave up while its coordinator was not there yet: $(cat "$WORK/early.err")"
note "ok: the peer is still waiting after 7 s"

start coordinator "$CLI" coordinator --config "$WORK/run.json" --open \
    --listen "tcp://127.0.0.1:$PORT" --summary "$WORK/summary.json"
wait_exit "$E2E_PID" 120
rc=$?
expect_eq "the coordinator's exit status" "$rc" 0
wait_exit "$EARLY" 30
rc=$?
expect_eq "the peer's exit status" "$rc" 0
S=$WORK/summary.json
jv applied "$S" '.peers[name=early].steps_applied'
expect_eq "early steps_applied" "$applied" $STEPS
jv agreeing "$S" .steps_hash_agreeing
expect_eq "steps_hash_agreeing" "$agreeing" $STEPS
note "pass"
