# distro-cli run never waits forever (issue 12): a scenario that no peer
# can start or finish is refused before anything starts, naming why; two
# peers of one name, and names that are paths or not printable, are
# refused; a peer killed from outside ends the run at
# once with its signal named and every child gone; and kill_step is exact:
# the killed peer's payload is in every step before kill_step and in none
# from it on (the coordinator's JSON events). Every run here is bounded by
# `timeout` or wait_exit, so a regression fails instead of hanging.
source "$(dirname "$0")/e2e_lib.sh"

# refused NAME PATTERN SCENARIO: run exits 1 within seconds, stderr matching
# PATTERN, and starts nothing (no run folder).
refused() {
    local name=$1 pattern=$2
    printf '%s\n' "$3" >"$WORK/$name.json"
    timeout 30 "$CLI" run "$WORK/$name.json" --keep "$WORK/$name.dir" --no-baseline \
        >"$WORK/$name.out" 2>"$WORK/$name.err"
    local rc=$?
    [ "$rc" != 124 ] || fail "$name: distro-cli run still running after 30 s (it hangs)"
    expect_eq "$name: exit status" "$rc" 1
    expect_grep "$name: the error says why" "$pattern" "$WORK/$name.err"
    [ ! -e "$WORK/$name.dir" ] || fail "$name: the run started (made $name.dir) before refusing"
}

cfg=$(run_config 6)
refused duplicate_names "peers\[0\] and peers\[1\] are both named 'a'" \
    "{\"run\": $cfg, \"auth\": \"open\", \"peers\": [{\"name\": \"a\", \"device\": \"cpu\"},
      {\"name\": \"a\", \"device\": \"cpu\"}]}"
# A device spec with options is longer than a bare one (it once had to fit
# 32 bytes): read whole, it reaches the duplicate-name check.
refused duplicate_names_long_spec "peers\[0\] and peers\[1\] are both named 'a'" \
    "{\"run\": $cfg, \"auth\": \"open\", \"peers\": [
      {\"name\": \"a\", \"device\": \"vulkan:0:kernels=gpu:staging=on:fp64=off\", \"optional\": true},
      {\"name\": \"a\", \"device\": \"cpu\"}]}"
# A name is a file name (peer-NAME.log) and goes on the wire as printable
# UTF-8: a path or an escape sequence is refused before anything starts.
refused name_with_slash "field 'peers\[1\]\.name' must be a file name" \
    "{\"run\": $cfg, \"auth\": \"open\", \"peers\": [{\"name\": \"a\", \"device\": \"cpu\"},
      {\"name\": \"../b\", \"device\": \"cpu\"}]}"
refused name_with_escape "field 'peers\[0\]\.name': byte 1 \(0x1b\) starts no printable" \
    "{\"run\": $cfg, \"auth\": \"open\", \"peers\": [{\"name\": \"a\\u001b[2J\", \"device\": \"cpu\"}]}"
refused join_after_the_end "peer 'late' joins at step 6, but the run has only 6 steps" \
    "{\"run\": $cfg, \"auth\": \"open\", \"peers\": [{\"name\": \"a\", \"device\": \"cpu\"},
      {\"name\": \"late\", \"device\": \"cpu\", \"join_step\": 6}]}"
refused nobody_at_step_0 "no peer starts at step 0" \
    "{\"run\": $cfg, \"auth\": \"open\", \"peers\": [{\"name\": \"a\", \"device\": \"cpu\", \"join_step\": 2}]}"
refused everyone_killed "every peer is killed by step 2 and the next one joins at step 4" \
    "{\"run\": $cfg, \"auth\": \"open\", \"peers\": [{\"name\": \"a\", \"device\": \"cpu\", \"kill_step\": 2},
      {\"name\": \"b\", \"device\": \"cpu\", \"join_step\": 4}]}"
refused kill_after_the_end "peer 'a': kill_step 6 must come after its join_step 0 and before" \
    "{\"run\": $cfg, \"auth\": \"open\", \"peers\": [{\"name\": \"a\", \"device\": \"cpu\", \"kill_step\": 6},
      {\"name\": \"b\", \"device\": \"cpu\"}]}"
refused min_peers_unreachable "min_peers is 3, but only 2 peers start at step 0" \
    "{\"run\": $(run_config 6 '"min_peers": 3'), \"auth\": \"open\",
      \"peers\": [{\"name\": \"a\", \"device\": \"cpu\"}, {\"name\": \"b\", \"device\": \"cpu\"},
                  {\"name\": \"c\", \"device\": \"cpu\", \"join_step\": 2}]}"

# kill_step is exact: no latency, so rounds of the tiny model take
# milliseconds and a kill that lagged behind the events by a poll interval
# would land steps late.
STEPS=8
KILL=3
cat >"$WORK/scenario.json" <<EOF
{"run": $(run_config $STEPS), "auth": "open",
 "peers": [{"name": "a", "device": "cpu"}, {"name": "victim", "device": "cpu", "kill_step": $KILL}],
 "baseline": false, "sample_tokens": 0}
EOF
play_scenario
expect_grep "the victim was killed at step $KILL" "killed peer victim with SIGKILL at step $KILL\$" \
    "$WORK/run.out"
contributors=$(paste -d: <(jl "$KEEP/coordinator.log" '[event=step].step') \
    <(jl "$KEEP/coordinator.log" '[event=step].peers') | tr '\n' ' ')
want=""
for s in $(seq 0 $((STEPS - 1))); do want+="$s:$([ $s -lt $KILL ] && echo 2 || echo 1) "; done
expect_eq "payloads per step (step:peers), the victim's in steps 0..$((KILL - 1)) only" \
    "$contributors" "$want"
jv applied "$S" '.peers[name=victim].steps_applied'
expect_eq "the victim's steps applied" "$applied" $KILL
last=$(jl "$KEEP/peer-victim.log" '[event=step].step' | tail -n 1)
[ -n "$last" ] && [ "$last" -le $((KILL - 1)) ] ||
    fail "the victim logged step '$last' after it was killed at step $KILL"
note "ok: the victim's own last logged step is $last (at most $((KILL - 1)))"

# A peer killed from outside: the run stops at once, naming the signal, and
# takes its coordinator and the other peer with it.
cat >"$WORK/outside.json" <<EOF
{"run": $(run_config 400 '"round_deadline_s": 60'), "auth": "open",
 "peers": [{"name": "a", "device": "cpu", "latency_ms": 50}, {"name": "b", "device": "cpu", "latency_ms": 50}],
 "baseline": false, "sample_tokens": 0}
EOF
start outside "$CLI" run "$WORK/outside.json" --keep "$WORK/outside" --no-baseline
RUN_PID=$E2E_PID
wait_for "the first step" 60 grep -q '"event":"step"' "$WORK/outside/coordinator.log"
children=$(cat /proc/$RUN_PID/task/*/children 2>/dev/null)
victim=""
for pid in $children; do
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "join .*--name b " && victim=$pid
done
[ -n "$victim" ] || fail "no peer b among the run's children ($children)"
kill -9 "$victim"
wait_exit "$RUN_PID" 30
expect_eq "run exit status after a peer died" "$?" 1
expect_grep "the dead peer's signal is named" \
    "peer 'b' was killed by signal 9 \((Killed|Killed: 9)\) at step [0-9]+" "$WORK/outside.err"
for pid in $children; do
    ! kill -0 "$pid" 2>/dev/null || fail "child $pid of run is still running after it exited"
done
note "ok: no child of the run is left ($children)"
note "pass"
