# shellcheck shell=bash
# Chaos (issue 11): four CPU peers (one thread each) train the tiny preset
# for 64 rounds while faults drawn from a seed hit them:
#   - peers killed with SIGKILL and started again after a moment, with their
#     --state file (they resume their momentum) or fresh, as the seed says;
#   - peers paused with SIGSTOP for one to six seconds, then SIGCONT; a pause
#     longer than max_misses round deadlines gets the peer ejected, and the
#     ejected process is started again;
#   - exactly one SIGKILL of the coordinator mid-run; it is started again
#     with --resume from its checkpoint folder, on the same port, appending to
#     the same record file, and the peers reconnect by themselves.
# Faults are timed by the step the coordinator's JSON log shows. At most two
# peers are down or paused at once, and every fault is over by step 48, so
# the run can always go on and the last rounds see every peer back. Each
# peer has its own CURVE key (an open run where this build has no CURVE).
# The run takes 15 to 30 s on two idle cores, about a minute under load.
#
# At the end: the coordinator exits 0 with every checked step agreeing; every
# hash any peer process logged equals the one its coordinator logged for that
# step (each stretch of a peer's log between two connections agrees with one
# coordinator: the first one's until the peer is on the resumed one, which it
# never leaves; a pause past the heartbeat timeout also reconnects, to the
# same coordinator); every surviving replica ends on the coordinator's final hash;
# a peer restarted with its state file restored it (a last process that
# never got into the run, told to wait out a back-off when it ended, is
# stopped and is no survivor); the final checkpoint
# records that hash and loads (distro-cli sample), and a damaged copy of it is
# refused; the record replays across the restart to the final hash.
#
# The seed is $DISTRO_CHAOS_SEED when set, else drawn from the clock, and is
# printed first: DISTRO_CHAOS_SEED=N replays the same fault plan (the timing
# of a replay differs, the plan does not). Every wait is bounded.
SEED=${DISTRO_CHAOS_SEED:-$(($(date +%s%N) / 1000 % 2147483647))}
if ! [[ "$SEED" =~ ^[0-9]{1,18}$ ]]; then
    echo "chaos: DISTRO_CHAOS_SEED must be a non-negative integer, got '$SEED'"
    exit 2
fi
echo "chaos seed: $SEED"
# shellcheck source=e2e_lib.sh
source "$(dirname "$0")/e2e_lib.sh"
set -Eeo pipefail # (-u comes from e2e_lib.sh)
chaos_exit() {
    local rc=$1
    trap - ERR
    set +e
    if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
        echo "chaos: FAILED with seed $SEED (DISTRO_CHAOS_SEED=$SEED replays its fault plan)"
    fi
    e2e_cleanup
}
trap 'chaos_exit $?' EXIT
trap 'fail "line $LINENO: unexpected failure of: $BASH_COMMAND"' ERR
# One thread per process, as distro-cli run's "threads": 1 sets it.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE

STEPS=64
CHECKPOINT_EVERY=4
DEADLINE_S=2
MAX_MISSES=2
RECOVER_BY=48             # every pause ends and every killed peer is back by this step
RESTART_CUTOFF=$((STEPS - 8)) # an ejected peer is not started again this late
TIME_LIMIT=170            # seconds for the whole run, restart included
NAMES=(a b c d)

# A small LCG of our own, so a seed gives the same plan on every bash.
RNG=$((SEED % 2147483648))
rnd() { # N: R gets a number in [0, N)
    RNG=$(((RNG * 1103515245 + 12345) % 2147483648))
    R=$(((RNG >> 8) % $1))
}
now_ms() { date +%s%3N; }

# ---- the fault plan -------------------------------------------------------
declare -a P_LAT P_SE
for i in 0 1 2 3; do
    rnd 41
    P_LAT[i]=$((20 + R)) # link latency each way, ms: rounds take a while
    rnd 3
    P_SE[i]=$((1 + R)) # --state-every
done
rnd 16
K_COORD=$((20 + R)) # the coordinator dies once the run shows this step
rnd 4
COORD_DOWN_MS=$((R * 500))
rnd 4
N_EVENTS=$((6 + R))
declare -a EV_STEP EV_PEER EV_KIND EV_ARG EV_MODE
for ((e = 0; e < N_EVENTS; e++)); do
    rnd 42
    EV_STEP[e]=$((3 + R))
    rnd 4
    EV_PEER[e]=$R
    rnd 3
    if [ "$R" -lt 2 ]; then EV_KIND[e]="kill"; else EV_KIND[e]="stop"; fi
    rnd 2
    if [ "$R" = 0 ]; then EV_MODE[e]=state; else EV_MODE[e]=fresh; fi
    if [ "${EV_KIND[e]}" = kill ]; then
        rnd 6
        EV_ARG[e]=$((R * 500)) # restart after this many ms
    else
        rnd 6
        EV_ARG[e]=$(((1 + R) * 1000)) # pause this many ms (over 4 s: ejected)
    fi
done
# The first two faults are early, on two different peers, one of each kind,
# so every plan kills and pauses at least one peer.
rnd 8
EV_STEP[0]=$((3 + R))
EV_KIND[0]="kill"
rnd 8
EV_STEP[1]=$((5 + R))
EV_KIND[1]="stop"
EV_PEER[1]=$(((EV_PEER[0] + 1 + R % 3) % 4))
[ "${EV_ARG[1]}" -ge 1000 ] || EV_ARG[1]=3000
[ "${EV_ARG[0]}" -le 2500 ] || EV_ARG[0]=1000
# in step order (stable)
for ((a = 1; a < N_EVENTS; a++)); do
    for ((b = a; b > 0; b--)); do
        [ "${EV_STEP[b]}" -lt "${EV_STEP[b - 1]}" ] || break
        for arr in EV_STEP EV_PEER EV_KIND EV_ARG EV_MODE; do
            declare -n ref=$arr
            t=${ref[b]}
            ref[b]=${ref[b - 1]}
            ref[b - 1]=$t
            unset -n ref
        done
    done
done
note "plan: $STEPS rounds; latency ms ${P_LAT[*]}; state-every ${P_SE[*]}"
note "plan: SIGKILL of the coordinator at step $K_COORD, restarted after $COORD_DOWN_MS ms"
for ((e = 0; e < N_EVENTS; e++)); do
    if [ "${EV_KIND[e]}" = kill ]; then
        what="SIGKILL, restart after ${EV_ARG[e]} ms (${EV_MODE[e]})"
    else
        what="SIGSTOP for ${EV_ARG[e]} ms (if ejected: restart ${EV_MODE[e]})"
    fi
    note "plan: step ${EV_STEP[e]}: peer ${NAMES[EV_PEER[e]]}: $what"
done

# ---- processes ------------------------------------------------------------
CK=$WORK/checkpoint
REC=$WORK/record.bin
run_config $STEPS '"tokens_per_round": 512' '"min_peers": 3' "\"round_deadline_s\": $DEADLINE_S" \
    "\"max_misses\": $MAX_MISSES" "\"checkpoint_every\": $CHECKPOINT_EVERY" >"$WORK/run.json"

# CURVE with a key per peer (admission limits and back-off then count per
# peer, as on the internet), or open where this libzmq has no CURVE.
AUTH=(--open)
PEER_AUTH=()
if "$CLI" keygen --out "$WORK/coordinator.keys" >"$WORK/keygen.txt" 2>&1; then
    AUTH=(--keys "$WORK/coordinator.keys")
    admit_keys "${NAMES[@]}"
    note "CURVE: the coordinator admits the four peer keys"
elif grep -qi curve "$WORK/keygen.txt"; then
    note "no CURVE in this build: the run is open ($(cat "$WORK/keygen.txt"))"
else
    fail "distro-cli keygen failed: $(cat "$WORK/keygen.txt")"
fi

COORD_EPOCH=1 # 1 while the first coordinator lives, 2 from its kill on
COORD_BASE=0  # the step the current coordinator started from

coord_ready() {
    [ -s "$WORK/$COORD_NAME.ready" ] && return 0
    kill -0 "$COORD_PID" 2>/dev/null || fail "coordinator $COORD_NAME exited before listening"
    return 1
}

start_coord() { # NAME LISTEN EXTRA...
    COORD_NAME=$1
    local listen=$2
    shift 2
    rm -f "$WORK/$COORD_NAME.ready"
    start "$COORD_NAME" "$CLI" coordinator --config "$WORK/run.json" "${AUTH[@]}" --listen "$listen" \
        --ready-file "$WORK/$COORD_NAME.ready" --checkpoint-dir "$CK" --record "$REC" \
        --summary "$WORK/$COORD_NAME.summary.json" --json "$@"
    COORD_PID=$E2E_PID
    COORD_LOG=$WORK/$COORD_NAME.out
    wait_for "coordinator $COORD_NAME to listen" 30 coord_ready
    local endpoint
    endpoint=$(sed -n 1p "$WORK/$COORD_NAME.ready")
    PORT=${endpoint##*:}
    ADDR=127.0.0.1:$PORT
    local key
    key=$(sed -n 2p "$WORK/$COORD_NAME.ready")
    if [ "$key" != open ]; then PEER_AUTH=(--server-key "$key"); fi
}

# VERSION: the run's step count as the current coordinator's log shows it.
coord_version() {
    local last
    last=$(grep -F '"event":"step"' "$COORD_LOG" | tail -n 1 | grep -oE '"step":[0-9]+' || true)
    if [ -n "$last" ]; then VERSION=$((${last#*:} + 1)); else VERSION=$COORD_BASE; fi
}

declare -a P_PID P_INC P_STATE P_UNTIL P_MODE P_PAUSED P_TAG
declare -a INC_TAGS=()
declare -A INC_EPOCH INC_RESTORE INC_END INC_RC
for i in 0 1 2 3; do P_INC[i]=0; done
KILLS=0
STOPS=0
EJECTED=0
RESTARTS=0

start_peer() { # I MODE: the next process of peer I, with its state file or fresh
    local i=$1 mode=$2 name=${NAMES[$1]} tag restore=0
    P_INC[i]=$((P_INC[i] + 1))
    tag=peer-$name-${P_INC[i]}
    local args=(join "$ADDR" --device cpu --name "$name" --json --latency-ms "${P_LAT[i]}"
        --connect-timeout 30)
    if [ "${#PEER_AUTH[@]}" -gt 0 ]; then args+=(--keys "$WORK/$name.keys" "${PEER_AUTH[@]}"); fi
    if [ "$mode" = state ]; then
        args+=(--state "$WORK/$name.state" --state-every "${P_SE[i]}")
        if [ -s "$WORK/$name.state" ]; then restore=1; fi
    fi
    start "$tag" "$CLI" "${args[@]}"
    P_PID[i]=$E2E_PID
    P_STATE[i]=up
    P_PAUSED[i]=0
    P_TAG[i]=$tag
    INC_TAGS+=("$tag")
    INC_EPOCH[$tag]=$COORD_EPOCH
    INC_RESTORE[$tag]=$restore
    INC_END[$tag]=running
}

welcomed() { grep -qF 'welcomed as peer' "$WORK/${P_TAG[$1]}.out" 2>/dev/null; }

faulted() { # FAULTED: peers down or paused now
    FAULTED=0
    local i
    for i in 0 1 2 3; do
        if [ "${P_STATE[i]}" = down ] || [ "${P_STATE[i]}" = stopped ]; then
            FAULTED=$((FAULTED + 1))
        fi
    done
}

kill_coordinator() {
    local rc=0
    kill -9 "$COORD_PID"
    wait "$COORD_PID" 2>/dev/null || rc=$?
    COORD_EPOCH=2
    KILL_VERSION=$VERSION
    note "step $VERSION: SIGKILL of the coordinator (exit $rc); restarting it in $COORD_DOWN_MS ms"
    sleep "$((COORD_DOWN_MS / 1000)).$(printf %03d $((COORD_DOWN_MS % 1000)))"
    start_coord coord2 "tcp://127.0.0.1:$PORT" --resume
    local line
    COORD_BASE=$(jl "$COORD_LOG" '[event=resumed].step' | head -n 1)
    RESUMED_ID=$(jl "$COORD_LOG" '[event=resumed].run_id' | head -n 1)
    [ -n "$COORD_BASE" ] && [ -n "$RESUMED_ID" ] ||
        fail "the restarted coordinator did not say it resumed (no resumed event)"
    note "the coordinator resumed run $RESUMED_ID at step $COORD_BASE on port $PORT"
}

# A peer process that ended by itself before the run did: an ejection after
# a pause (started again unless it is too late), anything else fails.
peer_exited() { # I
    local i=$1 tag=${P_TAG[$1]} rc=0
    wait "${P_PID[i]}" 2>/dev/null || rc=$?
    INC_RC[$tag]=$rc
    if grep -qE "rejected this peer.*(ejected|missed)" "$WORK/$tag.err" && [ "${P_PAUSED[i]}" = 1 ]; then
        INC_END[$tag]=ejected
        EJECTED=$((EJECTED + 1))
        if [ "$VERSION" -lt "$RESTART_CUTOFF" ]; then
            note "step $VERSION: $tag was ejected after its pause (exit $rc); starting it again (${P_MODE[i]})"
            start_peer "$i" "${P_MODE[i]}"
            RESTARTS=$((RESTARTS + 1))
        else
            note "step $VERSION: $tag was ejected after its pause (exit $rc); too late to start it again"
            P_STATE[i]=gone
        fi
        return 0
    fi
    fail "$tag exited with status $rc at step $VERSION, before the run finished: $(tail -n 3 "$WORK/$tag.err")"
}

# ---- the run --------------------------------------------------------------
start_coord coord1 tcp://127.0.0.1:0
FIRST_ID=$(jl "$COORD_LOG" '[event=started].run_id' | head -n 1)
[ -n "$FIRST_ID" ] || fail "the coordinator did not report its run id (a started event)"
note "coordinator listening on $ADDR, run $FIRST_ID"
for i in 0 1 2 3; do start_peer "$i" state; done

T_END=$(($(now_ms) + TIME_LIMIT * 1000))
NEXT_EV=0
COORD_KILLED=0
while kill -0 "$COORD_PID" 2>/dev/null; do
    NOW=$(now_ms)
    [ "$NOW" -lt "$T_END" ] || fail "the run did not finish within $TIME_LIMIT s (at step $VERSION)"
    coord_version

    # the coordinator's one death, once every running peer is in the run
    if [ "$COORD_KILLED" = 0 ] && [ "$VERSION" -ge "$K_COORD" ]; then
        all_in=1
        for i in 0 1 2 3; do
            if [ "${P_STATE[i]}" = up ] && ! welcomed "$i"; then all_in=0; fi
        done
        if [ "$all_in" = 1 ]; then
            kill_coordinator
            COORD_KILLED=1
            continue
        fi
    fi

    # pauses that end and killed peers that come back
    for i in 0 1 2 3; do
        due=0
        if [ "$NOW" -ge "${P_UNTIL[i]:-0}" ] || [ "$VERSION" -ge "$RECOVER_BY" ]; then due=1; fi
        if [ "${P_STATE[i]}" = stopped ] && [ "$due" = 1 ]; then
            kill -CONT "${P_PID[i]}"
            P_STATE[i]=up
            note "step $VERSION: SIGCONT ${P_TAG[i]}"
        elif [ "${P_STATE[i]}" = down ] && [ "$due" = 1 ]; then
            start_peer "$i" "${P_MODE[i]}"
            RESTARTS=$((RESTARTS + 1))
            note "step $VERSION: started ${P_TAG[i]} (${P_MODE[i]})"
        fi
    done

    # processes that ended by themselves
    for i in 0 1 2 3; do
        if [ "${P_STATE[i]}" = up ] && ! kill -0 "${P_PID[i]}" 2>/dev/null; then
            # the run just ended: its peers leave while the coordinator says goodbye
            if grep -qF "\"text\":\"finished $STEPS steps" "$COORD_LOG"; then break; fi
            peer_exited "$i"
        fi
    done

    # the next fault, on its peer or the next one that is running and in
    # the run, while fewer than two are down or paused
    if [ "$NEXT_EV" -lt "$N_EVENTS" ] && [ "${EV_STEP[NEXT_EV]}" -le "$VERSION" ]; then
        e=$NEXT_EV
        if [ "$VERSION" -ge "$RECOVER_BY" ]; then
            note "step $VERSION: too late for the remaining $((N_EVENTS - e)) faults of the plan"
            NEXT_EV=$N_EVENTS
        else
            faulted
            target=-1
            for d in 0 1 2 3; do
                i=$(((EV_PEER[e] + d) % 4))
                if [ "$FAULTED" -lt 2 ] && [ "${P_STATE[i]}" = up ] && welcomed "$i"; then
                    target=$i
                    break
                fi
            done
            if [ "$target" -ge 0 ]; then
                i=$target
                P_MODE[i]=${EV_MODE[e]}
                P_UNTIL[i]=$((NOW + EV_ARG[e]))
                if [ "${EV_KIND[e]}" = kill ]; then
                    kill -9 "${P_PID[i]}"
                    wait "${P_PID[i]}" 2>/dev/null || true
                    INC_END[${P_TAG[i]}]=killed
                    P_STATE[i]=down
                    KILLS=$((KILLS + 1))
                    note "step $VERSION: SIGKILL ${P_TAG[i]} (back in ${EV_ARG[e]} ms, ${EV_MODE[e]})"
                else
                    kill -STOP "${P_PID[i]}"
                    P_STATE[i]=stopped
                    P_PAUSED[i]=1
                    STOPS=$((STOPS + 1))
                    note "step $VERSION: SIGSTOP ${P_TAG[i]} for ${EV_ARG[e]} ms"
                fi
                NEXT_EV=$((NEXT_EV + 1))
            fi
        fi
    fi
    sleep 0.1
done

rc=0
wait "$COORD_PID" || rc=$?
[ "$COORD_KILLED" = 1 ] ||
    fail "the run ended (exit $rc) before the coordinator kill planned at step $K_COORD"
expect_eq "the resumed coordinator's exit status" "$rc" 0
note "the run finished: $KILLS peer kills, $STOPS pauses, $EJECTED ejections, $RESTARTS peer restarts"
expect_gt "peers killed" "$KILLS" 0
expect_gt "peers paused" "$STOPS" 0
# The last process of each peer. One that is in the run gets the
# coordinator's goodbye and must exit 0 by itself (or, paused until late, may
# have been ejected). One that never got in (started again late and told to
# wait out a back-off, or still starting) cannot learn that the run ended:
# it is stopped with SIGINT, which must end it, and is not a survivor.
for i in 0 1 2 3; do
    if [ "${P_STATE[i]}" = stopped ]; then kill -CONT "${P_PID[i]}"; fi
    if [ "${P_STATE[i]}" != stopped ] && [ "${P_STATE[i]}" != up ]; then continue; fi
    tag=${P_TAG[i]}
    pid=${P_PID[i]}
    rc=0
    if grep -qF 'welcomed as peer' "$WORK/$tag.out"; then
        wait_exit "$pid" 45 || rc=$?
        INC_END[$tag]=ended
        if [ "$rc" != 0 ] && [ "${P_PAUSED[i]}" = 1 ] &&
            grep -qE "rejected this peer.*(ejected|missed)" "$WORK/$tag.err"; then
            INC_END[$tag]=ejected
            EJECTED=$((EJECTED + 1))
        fi
    else
        for ((w = 0; w < 50; w++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -INT "$pid" 2>/dev/null || true
        wait_exit "$pid" 15 || rc=$?
        INC_END[$tag]=outside
        why=$(grep -oE 'asks this peer to wait[^"]*' "$WORK/$tag.out" | tail -n 1 || true)
        note "$tag never got into the run before it ended (${why:-no answer yet}); stopped (exit $rc)"
    fi
    INC_RC[$tag]=$rc
done

# ---- what the coordinators say --------------------------------------------
S=$WORK/coord2.summary.json
expect_eq "the resumed run id" "$RESUMED_ID" "$FIRST_ID"
run_id="" steps="" checked="" agreeing="" FINAL=""
jv run_id "$S" .run_id
expect_eq "the summary's run id" "$run_id" "$FIRST_ID"
jv steps "$S" .steps
expect_eq "summary steps" "$steps" $STEPS
jv checked "$S" .steps_hash_checked
expect_eq "steps_hash_checked (since the resume)" "$checked" $((STEPS - COORD_BASE))
jv agreeing "$S" .steps_hash_agreeing
expect_eq "steps_hash_agreeing" "$agreeing" "$checked"
jv FINAL "$S" '.step_records[-1].hash'
[[ "$FINAL" =~ ^[0-9a-f]{16}$ ]] || fail "the summary's final hash is '$FINAL'"
expect_grep "the coordinator's last log line names the final hash" \
    "finished $STEPS steps: val loss [0-9.]+, param hash $FINAL" "$WORK/coord2.out"
for c in coord1 coord2; do
    expect_no_grep "$c logged no hash mismatch" "differs from" "$WORK/$c.out"
done

# Step hashes of each coordinator, from its JSON log (a line the kill cut
# short is left out).
step_hashes() { # FILE: "step hash" of each step event in a JSON-lines log
    paste -d' ' <(jl "$1" '[event=step].step' || true) <(jl "$1" '[event=step].hash' || true)
}
declare -A H1 H2
grep -E '^\{.*\}$' "$WORK/coord1.out" >"$WORK/coord1.lines" || true
grep -E '^\{.*\}$' "$WORK/coord2.out" >"$WORK/coord2.lines" || true
while read -r s h; do H1[$s]=$h; done < <(step_hashes "$WORK/coord1.lines")
while read -r s h; do H2[$s]=$h; done < <(step_hashes "$WORK/coord2.lines")
LAST1=$(step_hashes "$WORK/coord1.lines" | tail -n 1 | cut -d' ' -f1)
[ -n "$LAST1" ] || fail "coord1 logged no step"
note "coord1 logged steps up to $LAST1, coord2 steps $COORD_BASE to $((STEPS - 1))"
# The resume starts from the last checkpoint: a multiple of checkpoint_every,
# not after the first coordinator's last step (it writes a checkpoint just
# after logging the step before it), and not before the checkpoint due
# before the step its log showed at the kill (the one due at that step may
# have been cut short by the kill).
lo=$(((KILL_VERSION - 1) / CHECKPOINT_EVERY * CHECKPOINT_EVERY))
if [ "$COORD_BASE" -le 0 ] || [ "$COORD_BASE" -lt "$lo" ] || [ "$COORD_BASE" -gt $((LAST1 + 1)) ] ||
    [ $((COORD_BASE % CHECKPOINT_EVERY)) != 0 ]; then
    fail "resumed at step $COORD_BASE: expected a multiple of $CHECKPOINT_EVERY in $lo..$((LAST1 + 1))"
fi
note "ok: resumed at step $COORD_BASE, the checkpoint of a step in $lo..$((LAST1 + 1))"

# ---- what every peer process says -----------------------------------------
# A peer's log, cut at each reconnection, is a series of connections. Each
# must agree, step for step, with one coordinator's log. The first
# coordinator comes first: a peer reconnects to it after a pause longer than
# the heartbeat timeout, is welcomed again and replays from a checkpoint.
# Once a connection agrees only with the resumed coordinator, every later one
# must agree with it too, and a process started after the kill knows only it.
agrees_with() { # PART FILE: DISAGREE gets the first disagreement ("" if none), N the steps checked
    local part=$1 s h want
    DISAGREE=""
    N=0
    while read -r s h; do
        [ "$h" != 0000000000000000 ] || continue
        if [ "$part" = 1 ]; then want=${H1[$s]:-}; else want=${H2[$s]:-}; fi
        if [ -z "$want" ] && [ "$part" = 1 ] && [ "$s" = $((LAST1 + 1)) ]; then
            continue # applied, but the coordinator died before logging it
        fi
        if [ -z "$want" ]; then
            DISAGREE="logged step $s, which coordinator $part never logged"
            return 0
        fi
        if [ "$h" != "$want" ]; then
            DISAGREE="hash $h after step $s, coordinator $part logged $want"
            return 0
        fi
        N=$((N + 1))
    done < <(step_hashes "$2")
}

check_connections() { # TAG: every connection of the process against a coordinator
    local tag=$1 part=${INC_EPOCH[$1]} k=0 seg why1
    CONNECTIONS=""
    rm -f "$WORK/$tag.conn".*
    awk -v base="$WORK/$tag.conn" \
        'BEGIN {k = 0} /reconnected to the coordinator/ {k++} {print > (base "." k)}' "$WORK/$tag.lines"
    while [ -e "$WORK/$tag.conn.$k" ]; do
        seg=$WORK/$tag.conn.$k
        agrees_with "$part" "$seg"
        if [ -n "$DISAGREE" ] && [ "$part" = 1 ]; then
            why1=$DISAGREE
            agrees_with 2 "$seg"
            if [ -n "$DISAGREE" ]; then
                fail "$tag, connection $((k + 1)): $why1 (and $DISAGREE)"
            fi
            part=2
        fi
        [ -z "$DISAGREE" ] || fail "$tag, connection $((k + 1)): $DISAGREE"
        CHECKED=$((CHECKED + N))
        CONNECTIONS+="${CONNECTIONS:+, }coordinator $part"
        k=$((k + 1))
    done
}

SURVIVORS=0
TOTAL_CHECKED=0
for tag in "${INC_TAGS[@]}"; do
    out=$WORK/$tag.out
    grep -E '^\{.*\}$' "$out" >"$WORK/$tag.lines" || true
    CHECKED=0
    check_connections "$tag"
    TOTAL_CHECKED=$((TOTAL_CHECKED + CHECKED))
    if [ "${INC_RESTORE[$tag]}" = 1 ] && grep -qF 'welcomed as peer' "$out"; then
        expect_grep "$tag restored its optimizer state" \
            '"text":"--state [^"]*: restored my optimizer state of round [0-9]+' "$out"
    fi
    expect_no_grep "$tag used its state file if it had one" '"text":"--state [^"]*: (not used|unreadable)' "$out"
    end=${INC_END[$tag]}
    note "$tag: $end (exit ${INC_RC[$tag]:-killed}), $CHECKED step hashes equal to the coordinator's (connections: $CONNECTIONS)"
    if [ "$end" = ended ]; then
        expect_eq "$tag exit status" "${INC_RC[$tag]}" 0
        last="" lasthash=""
        read -r last lasthash < <(step_hashes "$WORK/$tag.lines" | tail -n 1) || true
        if [ -z "${last:-}" ]; then
            note "$tag joined too late to apply a step"
            continue
        fi
        expect_eq "$tag last step" "$last" $((STEPS - 1))
        expect_eq "$tag final hash (the coordinator's)" "$lasthash" "$FINAL"
        peer_finished "$tag" "$out" "$WORK/$tag.err" $STEPS
        SURVIVORS=$((SURVIVORS + 1))
    fi
done
expect_gt "surviving replicas on the final hash" "$SURVIVORS" 1
expect_gt "peer step hashes checked against the coordinators'" "$TOTAL_CHECKED" $((STEPS * 2))

# ---- the final checkpoint -------------------------------------------------
CKF=$CK/coordinator.safetensors
[ -s "$CKF" ] || fail "no final checkpoint $CKF"
n=$(od -An -tu8 -N8 "$CKF" | tr -d ' ')
head -c $((8 + n)) "$CKF" | tail -c "$n" >"$WORK/ck-header.json"
expect_grep "the final checkpoint records the final hash" "\"param_hash\":\"$FINAL\"" \
    "$WORK/ck-header.json"
expect_grep "the final checkpoint is of step $STEPS" "\"step\":\"$STEPS\"" "$WORK/ck-header.json"
rc=0
timeout 60 "$CLI" sample --checkpoint "$CKF" --device cpu --tokens 8 >"$WORK/sample.txt" 2>&1 || rc=$?
expect_eq "sample from the final checkpoint (verified on load): exit status" "$rc" 0
# One weight's lowest mantissa byte inverted (the data ends the file, f32,
# so size - 64 starts a float): still finite, but no longer the hash.
cp "$CKF" "$WORK/damaged.safetensors"
at=$(($(stat -c %s "$CKF") - 64))
byte=$(od -An -tu1 -j "$at" -N1 "$CKF" | tr -d ' ')
printf '%b' "$(printf '\\%03o' $((255 - byte)))" |
    dd of="$WORK/damaged.safetensors" bs=1 seek="$at" conv=notrunc status=none
rc=0
timeout 60 "$CLI" sample --checkpoint "$WORK/damaged.safetensors" --device cpu --tokens 8 \
    >"$WORK/damaged.txt" 2>&1 || rc=$?
expect_eq "sample from a damaged copy: exit status" "$rc" 1
expect_grep "the damaged copy is refused as damaged" "the file is damaged" "$WORK/damaged.txt"

# ---- the record -----------------------------------------------------------
rc=0
timeout 120 "$REPLAY" "$WORK/run.json" "$REC" --rewind >"$WORK/replay.out" 2>"$WORK/replay.err" ||
    rc=$?
[ "$rc" = 0 ] || fail "replay_record --rewind exited $rc: $(cat "$WORK/replay.err")"
# The first coordinator recorded the rounds it applied after its last
# checkpoint too (unless it died right at one): the replay goes back there.
if [ "$LAST1" -ge "$COORD_BASE" ] || grep -q "goes back" "$WORK/replay.out"; then
    expect_grep "the record goes back to the resumed checkpoint" \
        "goes back from step [0-9]+ to $COORD_BASE \(a coordinator resumed" "$WORK/replay.out"
fi
line=$(grep -E "^replayed [0-9]+ rounds on cpu: steps $STEPS, [0-9]+ hashes checked, final hash $FINAL\$" \
    "$WORK/replay.out") || fail "the replay does not end on step $STEPS and the final hash: $(cat "$WORK/replay.out")"
rounds=$(echo "$line" | cut -d' ' -f2)
expect_gt "rounds replayed (every round of both coordinators)" "$rounds" $((STEPS - 1))
note "ok: $line"
note "pass (seed $SEED)"
