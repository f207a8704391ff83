# A refused key: a CURVE coordinator whose keys file admits one peer key.
# A peer with another, unlisted key (fresh from distro-cli keygen) is
# refused by the ZAP handler, which the coordinator logs with the key; the
# intruder never gets in and gives up after --connect-timeout with an error
# that says its key was refused. The admitted peer trains normally.
source "$(dirname "$0")/e2e_lib.sh"
need_curve

STEPS=10
coord_pub=$(keygen "$WORK/coordinator.keys") || exit 1
honest_pub=$(keygen "$WORK/honest.keys") || exit 1
intruder_pub=$(keygen "$WORK/intruder.keys") || exit 1
echo "peer $honest_pub honest" >>"$WORK/coordinator.keys"
run_config $STEPS >"$WORK/run.json"

start_coordinator coordinator --config "$WORK/run.json" --keys "$WORK/coordinator.keys" --json \
    --summary "$WORK/summary.json"
expect_eq "the ready file's server key" "$SERVER_KEY" "$coord_pub"

# The intruder first, alone: nothing else can explain a refusal.
start intruder "$CLI" join "$ADDR" --device cpu --name intruder --keys "$WORK/intruder.keys" \
    --server-key "$SERVER_KEY" --connect-timeout 3
INTRUDER=$E2E_PID
# The coordinator's JSON events: a rejected event naming the key.
rejected_key() { jl "$WORK/coordinator.out" '[event=rejected].text' 2>/dev/null |
    grep -qF "refused a peer key not in the keys file: $intruder_pub from 127.0.0.1"; }
wait_for "the coordinator to log the refused key" 30 rejected_key
note "ok: the coordinator logged the intruder's key as refused"

start honest "$CLI" join "$ADDR" --device cpu --name honest --keys "$WORK/honest.keys" \
    --server-key "$SERVER_KEY" --json --connect-timeout 60
HONEST=$E2E_PID

wait_exit "$INTRUDER" 60
rc=$?
expect_eq "the intruder's exit status" "$rc" 1
# It gave up through --connect-timeout, and says why.
expect_grep "the intruder timed out after --connect-timeout 3" \
    "distro-cli join: no coordinator at tcp://$ADDR after 3 s" "$WORK/intruder.err"
expect_grep "the intruder's error says its key was refused" \
    "the coordinator refused this peer's key" "$WORK/intruder.err"
expect_no_grep "the intruder was never welcomed" "welcomed" "$WORK/intruder.out"

wait_exit "$COORD_PID" 120
rc=$?
expect_eq "the coordinator's exit status" "$rc" 0
wait_exit "$HONEST" 30
rc=$?
expect_eq "the admitted peer's exit status" "$rc" 0

S=$WORK/summary.json
jv steps "$S" .steps
expect_eq "summary steps" "$steps" $STEPS
jv agreeing "$S" .steps_hash_agreeing
expect_eq "steps_hash_agreeing" "$agreeing" $STEPS
jv names "$S" '.peers[*].name'
expect_eq "peers in the summary" "$names" honest
jv applied "$S" '.peers[name=honest].steps_applied'
expect_eq "honest steps_applied" "$applied" $STEPS
# Z85 keys are full of regex characters: match them as fixed strings.
paste -d'|' <(jl "$WORK/coordinator.out" '[event=joined].name') \
    <(jl "$WORK/coordinator.out" '[event=joined].text') | grep "^honest|" |
    grep -qF "key $honest_pub;" || fail "the coordinator did not log the admitted peer joining with its key"
note "ok: the admitted peer joined with its key"
expect_eq "joined events of the intruder" \
    "$(jl "$WORK/coordinator.out" '[event=joined].name' | grep -c '^intruder$')" 0
peer_hashes_match "$WORK/honest.out" "$S"
expect_eq "honest hashes equal to the coordinator's" "$MATCHED" $STEPS
peer_finished honest "$WORK/honest.out" "$WORK/honest.err" $STEPS
note "pass"
