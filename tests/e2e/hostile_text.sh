# Text from the network never reaches the operator's terminal or the run's
# files unchecked. A peer with an admitted key sends HELLOs whose name,
# device or backend carries an escape sequence, a terminal title, a C1
# control, a BEL or malformed UTF-8 (flood_peer bad-text: 8 texts x 3 fields).
# The coordinator must refuse every one (no WELCOME), say why in its log by
# position and byte value (never echoing the bytes), keep its log and
# summary.json well-formed UTF-8 without control characters, and train its
# two honest peers through every step with equal hashes.
source "$(dirname "$0")/e2e_lib.sh"
need_curve
FLOOD=$(dirname "$HOSTILE")/flood_peer
[ -x "$FLOOD" ] || fail "no flood_peer next to $HOSTILE"

STEPS=6
admitted_keys a b badtext
run_config $STEPS '"min_peers": 2' '"round_deadline_s": 30' >"$WORK/run.json"
start_coordinator coordinator --config "$WORK/run.json" --keys "$WORK/coordinator.keys" \
    --summary "$WORK/summary.json"
start bad "$FLOOD" "$ADDR" --keys "$WORK/badtext.keys" --server-key "$SERVER_KEY" bad-text 1
wait_exit "$E2E_PID" 120 >/dev/null || fail "flood_peer failed: $(cat "$WORK/bad.err")"
cat "$WORK/bad.out"
expect_grep "every hostile HELLO sent, none welcomed" \
    "^flood_peer: bad-text: sent=24 welcomed=0 " "$WORK/bad.out"
for name in a b; do
    start "$name" "$CLI" join "$ADDR" --device cpu --name "$name" \
        --keys "$WORK/$name.keys" --server-key "$SERVER_KEY" --json --connect-timeout 60
done
wait_exit "$COORD_PID" 180
rc=$?
expect_eq "the coordinator's exit status" "$rc" 0
S=$WORK/summary.json
expect_all_steps_agree $STEPS
jv names "$S" '.peers[*].name'
expect_eq "peers in the summary" "$(echo "$names" | sort | tr '\n' ' ')" "a b "

# Each refusal named, by field, position and byte value.
refused=$(cat "$WORK/coordinator.out" "$WORK/coordinator.err" |
    grep -c "ignored a malformed frame .*starts no printable UTF-8 character")
expect_eq "HELLOs refused for their text" "$refused" 24
for f in "$WORK/coordinator.out" "$WORK/coordinator.err" "$S"; do
    iconv -f UTF-8 -t UTF-8 "$f" >/dev/null 2>&1 || fail "${f#"$WORK"/} is not well-formed UTF-8"
    ! LC_ALL=C.UTF-8 grep -qaP '[\x{0}-\x{8}\x{b}-\x{1f}\x{7f}-\x{9f}]' "$f" ||
        fail "${f#"$WORK"/} holds control characters"
    note "ok: ${f#"$WORK"/} is UTF-8 without control characters"
done
