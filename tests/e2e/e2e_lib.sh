# Shared helpers of the end-to-end scripts (sourced, bash).
#
# Every script is called as   SCRIPT CLI REPLAY JSONQ HOSTILE [OPTIMIZER]
# (the paths of distro-cli, replay_record, e2e_json and hostile_peer; the
# optimizer of run_config: demo, or local for local steps), works in a fresh
# mktemp -d directory, and on exit, pass or fail, kills every process it
# started (by pid, never by name) and removes the directory; with
# DISTRO_E2E_KEEP=1 a failed test's directory is kept and named instead.
# Every wait is bounded.

set -u
CLI=$1
REPLAY=$2
JSONQ=$3
HOSTILE=$4
E2E_OPTIMIZER=${5:-demo}
E2E_NAME=$(basename "$0" .sh)
[ "$E2E_OPTIMIZER" = demo ] || E2E_NAME=$E2E_NAME-$E2E_OPTIMIZER
WORK=$(mktemp -d "${TMPDIR:-/tmp}/distro-e2e-$E2E_NAME.XXXXXX") || exit 1
E2E_PIDS=()
E2E_FAILED=0
E2E_T0=$(date +%s)

e2e_cleanup() {
    local pid
    for pid in "${E2E_PIDS[@]}"; do
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [ "$E2E_FAILED" = 1 ] && [ "${DISTRO_E2E_KEEP:-0}" = 1 ]; then
        echo "$E2E_NAME: files kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap e2e_cleanup EXIT
trap 'echo "$E2E_NAME: interrupted"; E2E_FAILED=1; exit 1' INT TERM

note() { echo "[$E2E_NAME $(($(date +%s) - E2E_T0))s] $*"; }

# Prints the tail of every log in the work directory, then fails the test.
fail() {
    if [ "$BASHPID" != "$$" ]; then # a subshell: the caller fails the test
        echo "FAIL: $E2E_NAME: $*" >&2
        exit 1
    fi
    E2E_FAILED=1
    echo "FAIL: $E2E_NAME: $*"
    local f
    for f in $(find "$WORK" -name '*.log' -o -name '*.err' -o -name '*.out' | sort); do
        [ -s "$f" ] || continue
        echo "---- ${f#"$WORK"/} (last 25 lines)"
        tail -n 25 "$f"
    done
    exit 1
}

skip() {
    echo "SKIP: $E2E_NAME: $*"
    exit 77
}

expect_eq() { # what got want
    [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
    note "ok: $1 = $3"
}

expect_gt() { # what got bound  (integers)
    [[ "$2" =~ ^-?[0-9]+$ ]] && [ "$2" -gt "$3" ] || fail "$1: got '$2', expected more than $3"
    note "ok: $1 = $2 (> $3)"
}

expect_lt() { # what got bound  (integers)
    [[ "$2" =~ ^-?[0-9]+$ ]] && [ "$2" -lt "$3" ] || fail "$1: got '$2', expected less than $3"
    note "ok: $1 = $2 (< $3)"
}

expect_grep() { # what pattern file   (extended regex)
    grep -Eq -- "$2" "$3" || fail "$1: no line matching '$2' in ${3#"$WORK"/}"
    note "ok: $1"
}

expect_no_grep() { # what pattern file
    ! grep -Eq -- "$2" "$3" || fail "$1: unexpected line in ${3#"$WORK"/}: $(grep -Em1 -- "$2" "$3")"
    note "ok: $1"
}

# jv VAR FILE PATH: VAR gets the value(s) at PATH of a JSON file; the test
# fails when the path selects nothing (two missing values never compare
# equal). Runs in the calling shell, so fail() ends the test.
jv() {
    local out
    out=$("$JSONQ" "$2" "$3") || fail "no value at $3 in ${2#"$WORK"/}"
    printf -v "$1" '%s' "$out"
}

# jl FILE PATH: values from a JSON-lines log
jl() {
    "$JSONQ" -l "$1" "$2"
}

# start NAME CMD...: runs CMD in the background, stdout to NAME.out, stderr
# to NAME.err in the work directory; the pid lands in E2E_PID.
start() {
    local name=$1
    shift
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    E2E_PID=$!
    E2E_PIDS+=("$E2E_PID")
}

# wait_exit PID SECONDS: the exit status of PID, or fails the test when it
# is still running after SECONDS (it is killed then).
wait_exit() {
    local pid=$1 limit=$2 waited=0
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$waited" -ge $((limit * 10)) ]; then
            kill -9 "$pid" 2>/dev/null
            fail "process $pid still running after $limit s"
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    wait "$pid"
}

# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
    local what=$1 limit=$2 waited=0
    shift 2
    until "$@"; do
        [ "$waited" -lt $((limit * 10)) ] || fail "timed out after $limit s waiting for $what"
        sleep 0.1
        waited=$((waited + 1))
    done
}

# The tiny preset with a few steps: the run config every test starts from.
# EXTRA fields (text like '"min_peers": 2') are added, or replace the
# default of the same name.
run_config() { # STEPS EXTRA...
    local steps=$1
    shift
    local opt="\"lr\": 3e-3, \"warmup\": 2, \"chunk\": 32, \"topk\": 8, \"values\": \"fp32\""
    # Local steps: rounds of 3 inner AdamW steps, the scaled outer step.
    [ "$E2E_OPTIMIZER" = local ] && opt="\"name\": \"local\", $opt, \"inner_steps\": 3"
    local fields=("\"model\": \"tiny\"" "\"steps\": $steps" "\"micro_batch\": 4"
        "\"optimizer\": {$opt}")
    local defaults=('"tokens_per_round": 128' '"eval_batches": 2' '"checkpoint_every": 0')
    local d f key
    for d in "${defaults[@]}"; do
        key=${d%%:*}
        for f in "$@"; do [ "${f%%:*}" != "$key" ] || continue 2; done
        fields+=("$d")
    done
    fields+=("$@")
    (IFS=,; echo "{${fields[*]}}")
}

# Devices this build and machine have, one spec per line.
have_device() {
    "$CLI" devices 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"
}

# A run's coordinator hash of version STEP+1 (the hash after applying STEP).
coord_hash() { # SUMMARY STEP
    "$JSONQ" "$1" ".step_records[step=$2].hash"
}

# Checks that every step event with a hash in a peer's JSON-lines log
# carries the coordinator's hash for that step; MATCHED gets how many did,
# FIRST_APPLIED the first step whose event says its own payload was applied.
peer_hashes_match() { # PEERLOG SUMMARY
    local log=$1 summary=$2 step hash applied want
    MATCHED=0
    FIRST_APPLIED=""
    [ -s "$log" ] || fail "${log#"$WORK"/} is empty"
    "$JSONQ" -l "$log" '[0]' >/dev/null || fail "${log#"$WORK"/} is not JSON lines"
    while read -r step hash applied; do
        [ -n "$FIRST_APPLIED" ] || [ "$applied" != true ] || FIRST_APPLIED=$step
        [ -n "$hash" ] && [ "$hash" != 0000000000000000 ] || continue
        want=$(coord_hash "$summary" "$step") || fail "no coordinator record of step $step"
        [ "$hash" = "$want" ] ||
            fail "${log#"$WORK"/}: hash $hash after step $step, the coordinator's $want"
        MATCHED=$((MATCHED + 1))
    done < <(paste -d' ' <(jl "$log" '[event=step].step') <(jl "$log" '[event=step].hash') \
        <(jl "$log" '[event=step].applied'))
}

# start_coordinator NAME ARGS...: distro-cli coordinator on an ephemeral
# loopback port with ARGS; waits (bounded) for its ready file and sets
# COORD_PID, ADDR (127.0.0.1:PORT) and SERVER_KEY ("open" when open).
start_coordinator() {
    local name=$1
    shift
    rm -f "$WORK/$name.ready"
    start "$name" "$CLI" coordinator --listen tcp://127.0.0.1:0 --ready-file "$WORK/$name.ready" "$@"
    COORD_PID=$E2E_PID
    wait_for "the coordinator's ready file" 60 test -s "$WORK/$name.ready"
    local endpoint
    endpoint=$(sed -n 1p "$WORK/$name.ready")
    SERVER_KEY=$(sed -n 2p "$WORK/$name.ready")
    ADDR=127.0.0.1:${endpoint##*:}
    note "coordinator $name listening on $ADDR"
}

# keygen FILE: a fresh keypair in FILE; prints its public key.
keygen() {
    "$CLI" keygen --out "$1" 2>/dev/null || fail "distro-cli keygen --out $1 failed"
}

# admit_keys NAME...: one fresh keypair per NAME ($WORK/NAME.keys), each
# admitted under NAME by the coordinator keys file $WORK/coordinator.keys.
admit_keys() {
    local name pub
    for name in "$@"; do
        pub=$(keygen "$WORK/$name.keys") || exit 1
        printf 'peer %s %s\n' "$pub" "$name" >>"$WORK/coordinator.keys"
    done
}

# admitted_keys NAME...: a coordinator keypair in $WORK/coordinator.keys
# that admits one fresh keypair per NAME ($WORK/NAME.keys, under NAME).
admitted_keys() {
    keygen "$WORK/coordinator.keys" >/dev/null || exit 1
    admit_keys "$@"
}

# Skips the test when this libzmq has no CURVE (distro-cli keygen says so):
# the test is about an authenticated run and cannot say anything without.
need_curve() {
    if ! "$CLI" keygen --out "$WORK/curve-probe.keys" >/dev/null 2>"$WORK/curve-probe.txt"; then
        grep -qi "curve" "$WORK/curve-probe.txt" && skip "$(cat "$WORK/curve-probe.txt")"
        fail "distro-cli keygen failed: $(cat "$WORK/curve-probe.txt")"
    fi
    rm -f "$WORK/curve-probe.keys" "$WORK/curve-probe.txt"
}

# A peer ended cleanly: the coordinator's goodbye (LEAVE) reached it after
# the last step, and it printed no error.
peer_finished() { # NAME LOG ERR STEPS
    jl "$2" '[event=finished].step' 2>/dev/null | grep -qx "$4" ||
        fail "peer $1 did not see the run finish at step $4 (no finished event)"
    ! grep -q "^distro-cli join: " "$3" || fail "peer $1 failed: $(grep "^distro-cli join: " "$3")"
    note "ok: peer $1 saw the run finish at step $4, no error"
}

# play_scenario: distro-cli run on $WORK/scenario.json, keeping its files;
# fails unless it exits 0. Sets KEEP (its directory) and S (its summary).
play_scenario() {
    KEEP=$WORK/run
    start run "$CLI" run "$WORK/scenario.json" --keep "$KEEP" --no-baseline
    wait_exit "$E2E_PID" 240
    local rc=$?
    [ "$rc" = 0 ] || fail "distro-cli run exited $rc"
    S=$KEEP/summary.json
}

# expect_all_steps_agree STEPS: the summary has STEPS steps, every one
# hash-checked and agreeing.
expect_all_steps_agree() {
    local steps checked agreeing
    jv steps "$S" .steps
    expect_eq "summary steps" "$steps" "$1"
    jv checked "$S" .steps_hash_checked
    expect_eq "steps_hash_checked" "$checked" "$1"
    jv agreeing "$S" .steps_hash_agreeing
    expect_eq "steps_hash_agreeing" "$agreeing" "$1"
}

# peers_trained_every_step STEPS NAME...: each named peer (its pid in
# PID_NAME, its output in NAME.out/.err) exits, saw the run finish at STEPS,
# and had its payload applied in every step of $WORK/summary.json.
peers_trained_every_step() {
    local steps=$1 name pid_var applied
    shift
    for name in "$@"; do
        pid_var=PID_$name
        wait_exit "${!pid_var}" 60 >/dev/null
        peer_finished "$name" "$WORK/$name.out" "$WORK/$name.err" "$steps"
        jv applied "$WORK/summary.json" ".peers[name=$name].steps_applied"
        expect_eq "$name steps_applied" "$applied" "$steps"
    done
}
