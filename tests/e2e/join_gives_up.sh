# join gives up by itself, naming why (issue 12): against a CURVE
# coordinator, a peer whose key is not admitted, a peer holding a wrong
# --server-key and a peer without keys each exit 1 soon after their short
# --connect-timeout with the reason; and a peer whose coordinator is killed
# mid-run says the coordinator stopped answering, instead of hanging. The
# address errors that need no coordinator (bad port, unknown host, nothing
# listening) are cli_join_address and cli_join_unknown_host.
source "$(dirname "$0")/e2e_lib.sh"
need_curve

coord_pub=$(keygen "$WORK/coordinator.keys") || exit 1
admitted_pub=$(keygen "$WORK/admitted.keys") || exit 1
intruder_pub=$(keygen "$WORK/intruder.keys") || exit 1
echo "peer $admitted_pub admitted" >>"$WORK/coordinator.keys"
# Far more steps than the test waits for: the coordinator stays up until it
# is killed.
run_config 100000 >"$WORK/run.json"

start_coordinator coordinator --config "$WORK/run.json" --keys "$WORK/coordinator.keys" --json
expect_eq "the ready file's server key" "$SERVER_KEY" "$coord_pub"

# All three at once, with 2 s to give up: none may get in, each names its
# reason within a few seconds.
t0=$(date +%s)
start refused "$CLI" join "$ADDR" --device cpu --name refused --keys "$WORK/intruder.keys" \
    --server-key "$SERVER_KEY" --connect-timeout 2
REFUSED=$E2E_PID
start wrongkey "$CLI" join "$ADDR" --device cpu --name wrongkey --keys "$WORK/admitted.keys" \
    --server-key "$intruder_pub" --connect-timeout 2
WRONGKEY=$E2E_PID
start nokeys "$CLI" join "$ADDR" --device cpu --name nokeys --connect-timeout 2
NOKEYS=$E2E_PID
for name in refused wrongkey nokeys; do
    pid_var=${name^^}
    wait_exit "${!pid_var}" 30
    rc=$?
    expect_eq "$name: exit status" "$rc" 1
    expect_grep "$name: gave up after --connect-timeout 2" \
        "^distro-cli join: no coordinator at tcp://$ADDR after 2 s: " "$WORK/$name.err"
    expect_no_grep "$name: no 'left the run'" "left the run" "$WORK/$name.out"
done
expect_lt "seconds the three peers took to give up" $(($(date +%s) - t0)) 15
expect_grep "refused: names the refused key" "the coordinator refused this peer's key" \
    "$WORK/refused.err"
expect_grep "wrongkey: names the server key" "wrong server key \(--server-key\)" "$WORK/wrongkey.err"
expect_grep "nokeys: names the security mismatch" "security mismatch|security differs" \
    "$WORK/nokeys.err"
expect_eq "joined events" "$(jl "$WORK/coordinator.out" '[event=joined].name' | wc -l)" 0

# An admitted peer trains; then the coordinator dies under it.
start admitted "$CLI" join "$ADDR" --device cpu --name admitted --keys "$WORK/admitted.keys" \
    --server-key "$SERVER_KEY" --json --connect-timeout 3
ADMITTED=$E2E_PID
has_steps() { [ "$(jl "$WORK/admitted.out" '[event=step].step' 2>/dev/null | wc -l)" -ge 2 ]; }
wait_for "the admitted peer's first steps" 60 has_steps
note "ok: the admitted peer trains"
kill -9 "$COORD_PID"
t0=$(date +%s)
wait_exit "$ADMITTED" 30
rc=$?
expect_eq "admitted: exit status after the coordinator died" "$rc" 1
expect_grep "admitted: says the coordinator stopped answering" \
    "^distro-cli join: the coordinator at tcp://$ADDR stopped answering: no connection for 3 s" \
    "$WORK/admitted.err"
expect_grep "admitted: and what the reconnects found" "nothing is listening there" \
    "$WORK/admitted.err"
expect_lt "seconds from the kill to the peer giving up" $(($(date +%s) - t0)) 12
note "pass"
