# The text sample at the end of distro-cli run's report. The tiny byte-level
# model after three steps samples near-random bytes: NULs, escape sequences,
# C1 controls, stray bytes of UTF-8 characters. The report on the terminal
# and the --summary JSON must still be well-formed UTF-8 with no control
# character but newline and tab (a JSON reader rejects anything else, and an
# escape sequence would drive the user's terminal), and both must carry the
# same sample, the prompt first. Then distro-cli sample on the run's
# checkpoint: into a pipe the raw bytes (which must hold unprintable ones, or
# the rest shows nothing), on a terminal (script(1)'s pseudo-terminal) the
# same text made printable.
source "$(dirname "$0")/e2e_lib.sh"
need_curve

{
    echo '{"run": '
    run_config 3 '"tokens_per_round": 256'
    echo ', "peers": [{"name": "a", "device": "cpu", "threads": 1}],'
    echo ' "baseline": false, "sample_tokens": 600}'
} >"$WORK/scenario.json"
start run "$CLI" run "$WORK/scenario.json" --summary "$WORK/summary.json" \
    --report "$WORK/report.html" --keep "$WORK/run"
wait_exit "$E2E_PID" 240
rc=$?
[ "$rc" = 0 ] || fail "distro-cli run exited $rc"

# The bytes of a file are UTF-8 with no control character but \n and \t.
clean_text() { # WHAT FILE
    iconv -f UTF-8 -t UTF-8 "$2" >/dev/null 2>&1 || fail "$1 is not well-formed UTF-8"
    ! LC_ALL=C.UTF-8 grep -qP '[\x{0}-\x{8}\x{b}-\x{1f}\x{7f}-\x{9f}]' "$2" ||
        fail "$1 holds control characters: $(LC_ALL=C.UTF-8 grep -naP \
            '[\x{0}-\x{8}\x{b}-\x{1f}\x{7f}-\x{9f}]' "$2" | head -c 300 | od -c | head -n 5)"
    note "ok: $1 is UTF-8 without control characters"
}
clean_text "the report" "$WORK/run.out"
clean_text "summary.json" "$WORK/summary.json"

jv sample "$WORK/summary.json" .sample
printf '%s' "$sample" >"$WORK/sample.txt"
clean_text "the sample" "$WORK/sample.txt"
case $sample in
ROMEO:?*) note "ok: the sample starts with the prompt and goes on" ;;
*) fail "the sample does not start with the prompt: '${sample:0:40}'" ;;
esac
# Printed under "sample from the final model:", up to the blank line.
printed=$(sed -n '/^sample from the final model:$/,/^report: /p' "$WORK/run.out" | sed '1d;$d')
expect_eq "the sample in the report and in summary.json" "${printed%$'\n'}" "$sample"

ck=$WORK/run/checkpoint/coordinator.safetensors
[ -s "$ck" ] || fail "the run kept no checkpoint at ${ck#"$WORK"/}"
"$CLI" sample --checkpoint "$ck" --tokens 600 >"$WORK/pipe.out" 2>"$WORK/pipe.err" ||
    fail "distro-cli sample into a pipe failed: $(cat "$WORK/pipe.err")"
if iconv -f UTF-8 -t UTF-8 "$WORK/pipe.out" >/dev/null 2>&1 &&
    ! LC_ALL=C.UTF-8 grep -qaP '[\x{0}-\x{8}\x{b}-\x{1f}\x{7f}-\x{9f}]' "$WORK/pipe.out"; then
    fail "premise: the raw sample has no unprintable byte, so the terminal check shows nothing"
fi
note "ok: into a pipe, sample writes the raw bytes (unprintable ones among them)"
command -v script >/dev/null || skip "no script(1) here to give sample a terminal"
script -qec "'$CLI' sample --checkpoint '$ck' --tokens 600" /dev/null >"$WORK/tty.raw" ||
    fail "distro-cli sample on a terminal failed: $(tail -n 3 "$WORK/tty.raw")"
# The terminal turns each newline into CR LF.
tr -d '\r' <"$WORK/tty.raw" >"$WORK/tty.out"
clean_text "sample on a terminal" "$WORK/tty.out"
[ "$(wc -l <"$WORK/tty.out")" = "$(wc -l <"$WORK/pipe.out")" ] ||
    fail "sample on a terminal printed $(wc -l <"$WORK/tty.out") lines, into a pipe $(wc -l <"$WORK/pipe.out")"
note "ok: the same lines on a terminal as into the pipe"
