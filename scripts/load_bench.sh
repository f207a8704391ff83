#!/usr/bin/env bash
# Load benchmark of the coordinator (issue 11): one coordinator and N peers of
# the tiny preset on loopback, one CPU thread per process, for each N of a
# list, a fixed number of rounds each; prints one table:
#
#   N            peers in the run (every one trains one micro-batch a round)
#   s/step       median wall time between consecutive steps in the
#                coordinator's JSON log, the first --skip steps left out
#   peak RSS     the coordinator's peak resident memory (/usr/bin/time -v
#                when installed, else VmHWM sampled from /proc/PID/status)
#   CPU s        the coordinator's user+system CPU seconds over its life
#                (/usr/bin/time -v, else utime+stime from /proc/PID/stat)
#   CPU share    CPU s / the coordinator's wall seconds, in % of one core
#   egress/step  bytes the coordinator sent per round (the summary's
#                step_records[].bytes_down, median over the same steps)
#   egress/N^2   that divided by N^2: every round relays all N payloads to
#                each of the N peers, so this stays about one payload
#
# usage: scripts/load_bench.sh [options]
#   --ns "4 16 32 64"   peer counts to run (env LOAD_NS; default 4 16 32 64)
#   --steps N           rounds per run (env LOAD_STEPS; default 20)
#   --skip K            first steps left out of the medians (default 3)
#   --auth open|curve   open (default) or CURVE with a key per peer
#   --cli PATH          distro-cli (env DISTRO_CLI; default build/bin/distro-cli of
#                       this checkout)
#   --timeout S         limit for one run, joins included (default 600)
#   --keep DIR          keep every config, log and summary under DIR
#   --help              this text
#
# Every wait is bounded; every process it started is killed (by pid) on exit
# or Ctrl-C. Needs bash, python3 (for the medians) and a built distro-cli.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

NS=${LOAD_NS:-4 16 32 64}
STEPS=${LOAD_STEPS:-20}
SKIP=3
AUTH=open
CLI=${DISTRO_CLI:-$(dirname "$0")/../build/bin/distro-cli}
LIMIT=600
KEEP=""
while [ $# -gt 0 ]; do
    case $1 in
    --ns) NS=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --skip) SKIP=$2; shift 2 ;;
    --auth) AUTH=$2; shift 2 ;;
    --cli) CLI=$2; shift 2 ;;
    --timeout) LIMIT=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    --help | -h) usage; exit 0 ;;
    *) echo "load_bench: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for v in "$STEPS" "$SKIP" "$LIMIT" $NS; do
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "load_bench: '$v' is not a whole number" >&2; exit 2; }
done
[ "$STEPS" -gt $((SKIP + 1)) ] || { echo "load_bench: --steps must exceed --skip + 1" >&2; exit 2; }
case $AUTH in open | curve) ;; *) echo "load_bench: --auth open or curve" >&2; exit 2 ;; esac
[ -x "$CLI" ] || { echo "load_bench: $CLI not found; build first (scripts/setup.sh)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "load_bench: needs python3" >&2; exit 1; }

if [ -n "$KEEP" ]; then
    mkdir -p "$KEEP"
    WORK=$(cd "$KEEP" && pwd)
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/distro-load.XXXXXX")
fi
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
    if [ -z "$KEEP" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'echo "load_bench: interrupted" >&2; exit 130' INT TERM

# /usr/bin/time -v gives the exact peak RSS and CPU at exit; without it (or
# without pgrep to find the coordinator under it) /proc is sampled.
USE_TIME=0
if [ -x /usr/bin/time ] && command -v pgrep >/dev/null; then
    probe=$(/usr/bin/time -v true 2>&1 || true)
    if [[ "$probe" == *"Maximum resident set size"* ]]; then USE_TIME=1; fi
fi
TICK=$(getconf CLK_TCK)
# Newer coordinators limit the peers one address may run in an open run.
PER_ADDRESS=()
if "$CLI" coordinator --help 2>&1 | grep -q -- --max-peers-per-address; then
    PER_ADDRESS=(--max-peers-per-address 256)
fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE

now() { date +%s.%N; }

# run_n N: one run; appends a line to $WORK/rows.txt
run_n() {
    local n=$1 dir=$WORK/n$1 i
    mkdir -p "$dir"
    cat >"$dir/run.json" <<EOF
{"model": "tiny", "steps": $STEPS, "micro_batch": 4, "tokens_per_round": $((n * 128)),
 "split": "even", "min_peers": $n, "round_deadline_s": 120, "max_misses": 3,
 "checkpoint_every": 0, "eval_batches": 1,
 "optimizer": {"lr": 3e-3, "warmup": 2, "chunk": 32, "topk": 8, "values": "fp32"}}
EOF
    local auth=(--open)
    if [ "$AUTH" = curve ]; then
        "$CLI" keygen --out "$dir/coordinator.keys" >/dev/null
        auth=(--keys "$dir/coordinator.keys")
        for ((i = 1; i <= n; i++)); do
            "$CLI" keygen --out "$dir/p$i.keys" >/dev/null
            echo "peer $(sed -n 's/^public //p' "$dir/p$i.keys") p$i" >>"$dir/coordinator.keys"
        done
    fi
    local cmd=("$CLI" coordinator --config "$dir/run.json" "${auth[@]}" "${PER_ADDRESS[@]}"
        --listen tcp://127.0.0.1:0 --ready-file "$dir/ready" --json --summary "$dir/summary.json")
    local t0 wrapper coord waited=0
    t0=$(now)
    if [ "$USE_TIME" = 1 ]; then
        /usr/bin/time -v -o "$dir/time.txt" "${cmd[@]}" >"$dir/coordinator.log" 2>"$dir/coordinator.err" &
        wrapper=$!
        PIDS+=("$wrapper")
        coord=""
        while [ -z "$coord" ]; do
            coord=$(pgrep -P "$wrapper" || true)
            [ "$waited" -lt 100 ] || { echo "load_bench: N=$n: the coordinator did not start" >&2; return 1; }
            [ -n "$coord" ] || { sleep 0.05; waited=$((waited + 1)); }
        done
    else
        "${cmd[@]}" >"$dir/coordinator.log" 2>"$dir/coordinator.err" &
        coord=$!
        wrapper=$coord
    fi
    PIDS+=("$coord")
    waited=0
    until [ -s "$dir/ready" ]; do
        if ! kill -0 "$coord" 2>/dev/null || [ "$waited" -ge 300 ]; then
            echo "load_bench: N=$n: the coordinator did not listen: $(tail -n 3 "$dir/coordinator.err")" >&2
            return 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    local endpoint key addr
    endpoint=$(sed -n 1p "$dir/ready")
    key=$(sed -n 2p "$dir/ready")
    addr=127.0.0.1:${endpoint##*:}
    local peers=()
    for ((i = 1; i <= n; i++)); do
        local pauth=()
        if [ "$AUTH" = curve ]; then pauth=(--keys "$dir/p$i.keys" --server-key "$key"); fi
        "$CLI" join "$addr" --device cpu --name "p$i" --connect-timeout 60 "${pauth[@]}" \
            >"$dir/peer-$i.log" 2>&1 &
        peers+=("$!")
        PIDS+=("$!")
    done
    # Until the coordinator exits: sample its peak RSS and CPU time.
    local deadline hwm=0 cpu_ticks=0 line stat
    deadline=$(($(date +%s) + LIMIT))
    while kill -0 "$coord" 2>/dev/null; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "load_bench: N=$n: the run did not finish within $LIMIT s; stopped" >&2
            kill -9 "$coord" "${peers[@]}" 2>/dev/null || true
            return 1
        fi
        line=$(grep VmHWM "/proc/$coord/status" 2>/dev/null || true)
        [ -z "$line" ] || hwm=$(echo "$line" | awk '{print $2}')
        stat=$(cat "/proc/$coord/stat" 2>/dev/null || true)
        if [ -n "$stat" ]; then # fields after the ")" that ends the command name
            stat=${stat##*) }
            cpu_ticks=$(echo "$stat" | awk '{print $12 + $13}')
        fi
        sleep 0.2
    done
    local rc=0
    wait "$wrapper" || rc=$?
    local t1
    t1=$(now)
    [ "$rc" = 0 ] || { echo "load_bench: N=$n: the coordinator exited $rc: $(tail -n 3 "$dir/coordinator.err")" >&2; return 1; }
    # The peers leave on the coordinator's goodbye; a straggler is killed.
    waited=0
    for pid in "${peers[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 300 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    local rss_kb cpu_s wall_s src
    wall_s=$(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}')
    if [ "$USE_TIME" = 1 ] && [ -s "$dir/time.txt" ]; then
        rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/time.txt")
        cpu_s=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.2f", u + s}' "$dir/time.txt")
        src="time"
    else
        rss_kb=$hwm
        cpu_s=$(echo "$cpu_ticks $TICK" | awk '{printf "%.2f", $1 / $2}')
        src=proc
    fi
    python3 - "$dir/coordinator.log" "$dir/summary.json" "$n" "$SKIP" "$STEPS" "$rss_kb" "$cpu_s" \
        "$wall_s" "$src" >>"$WORK/rows.txt" <<'PY'
import json, statistics, sys
log, summary, n, skip, steps, rss_kb, cpu_s, wall_s, src = sys.argv[1:]
n, skip, steps = int(n), int(skip), int(steps)
t = {}
for line in open(log):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    if o.get("event") == "step":
        t[o["step"]] = o["t"]
s = json.load(open(summary))
if s["steps"] != steps or len(t) != steps:
    sys.exit(f"load_bench: N={n}: {len(t)} steps logged, summary {s['steps']}, expected {steps}")
measured = range(skip + 1, steps)  # each step after the skipped ones
dts = [t[i] - t[i - 1] for i in measured]
egress = [r["bytes_down"] for r in s["step_records"] if r["step"] in measured]
applied = min(r["applied"] for r in s["step_records"] if r["step"] in measured)
if applied != n:
    sys.exit(f"load_bench: N={n}: a measured step applied only {applied} payloads")
spstep = statistics.median(dts)
eg = statistics.median(egress)
share = 100.0 * float(cpu_s) / float(wall_s)
print(f"| {n} | {spstep:.4f} | {int(rss_kb) / 1024:.1f} | {float(cpu_s):.2f} | {share:.1f} "
      f"| {eg:.0f} | {eg / n / n:.0f} | {float(wall_s):.1f} |")
PY
}

cpuinfo() { grep -m1 "^$1[[:space:]]*:" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'; }
echo "CPU: $(cpuinfo 'model name') (family $(cpuinfo 'cpu family'), model $(cpuinfo model)," \
    "$(cpuinfo 'cpu MHz') MHz; $(getconf _NPROCESSORS_ONLN) cores online;" \
    "load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); distro-cli: $CLI; tiny preset, $STEPS rounds per run" \
    "(medians over steps $((SKIP + 1))..$((STEPS - 1))), --auth $AUTH, one thread per process;" \
    "RSS and CPU from $([ "$USE_TIME" = 1 ] && echo '/usr/bin/time -v' || echo '/proc sampling')"
: >"$WORK/rows.txt"
for n in $NS; do
    echo "running N=$n ..." >&2
    if ! run_n "$n"; then
        echo "| $n | failed (see above) | | | | | | |" >>"$WORK/rows.txt"
    fi
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    PIDS=()
done
echo
echo "| N | s/step | coord peak RSS MiB | coord CPU s | CPU share % of a core | egress B/step | egress/N^2 B | run wall s |"
echo "|---|---|---|---|---|---|---|---|"
cat "$WORK/rows.txt"
