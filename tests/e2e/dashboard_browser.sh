# The live dashboard in a real browser (issue 12): a coordinator with
# --http and two peers on loopback. Headless Chromium loads the page once
# three steps are done and again later: one row per peer, a loss chart with
# points, the step counter advancing. /metrics answers in Prometheus syntax;
# a request naming another host is refused (DNS rebinding).
# Forty connections that never finish their request must not slow the
# rounds. After the run, `distro-cli report` turns the coordinator's log
# into report.html (with the val curve of eval_every), which the browser
# loads as well. Screenshots go to
# $DASHBOARD_SHOTS (the build folder). Skips when no Chromium or python3.
source "$(dirname "$0")/e2e_lib.sh"
WEB=$(cd "$(dirname "$0")/../web" && pwd)
source "$WEB/browser_lib.sh"
command -v python3 >/dev/null || skip "python3 is needed to read the page's DOM"
browser_find || skip "$BROWSER_WHY"
SHOTS=${DASHBOARD_SHOTS:-$WORK/shots}
mkdir -p "$SHOTS" || fail "cannot create $SHOTS"

STEPS=60
run_config $STEPS '"min_peers": 2' '"eval_every": 20' >"$WORK/run.json"
start_coordinator coordinator --config "$WORK/run.json" --open --json --http 127.0.0.1:0
URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$WORK/coordinator.err" | head -1)
[ -n "$URL" ] || fail "the coordinator did not say where its dashboard is"
note "dashboard at $URL"
# 100 ms of link latency each way: a round takes at least a few tenths of a
# second however fast the machine, so the run outlives the browser's looks.
for name in cpu-a cpu-b; do
    start "$name" "$CLI" join "$ADDR" --device cpu --name "$name" --json --connect-timeout 60 \
        --latency-ms 100
done

coord_step() { jl "$WORK/coordinator.out" '[event=step].step' 2>/dev/null | tail -1; }
at_step() { local s; s=$(coord_step); [ -n "$s" ] && [ "$s" -ge "$1" ]; }
wait_for "step 3" 120 at_step 3

dom() { # NAME URL: the page's DOM after 4 s of its own time (it polls every second)
    browser_dump_dom "$2" "$SHOTS/$1.html" 4000 60 || fail "chromium could not load $2"
}
dom live1 "$URL"
python3 "$WEB/check_dom.py" "$SHOTS/live1.html" ready live=1 peers=2 peer=cpu-a peer=cpu-b \
    min-points=3 min-step=3 || fail "the live page after step 3"
step1=$(python3 "$WEB/check_dom.py" "$SHOTS/live1.html" --print step)
note "ok: the live page shows both peers and step $step1"
# The picture while the run is live (the server goes with the coordinator).
browser_screenshot "$URL" "$SHOTS/live.png" 4000 1400,2200 60 || fail "screenshot of the live page"

# Prometheus text from /metrics, and the state document.
fetch() { python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$1"; }
fetch "${URL}metrics" >"$WORK/metrics.txt" || fail "GET /metrics"
expect_grep "/metrics: the step" '^distro_step [0-9]+$' "$WORK/metrics.txt"
expect_grep "/metrics: peers training" '^distro_peers\{state="training"\} 2$' "$WORK/metrics.txt"
expect_grep "/metrics: a peer's throughput" '^distro_peer_tokens_per_second\{peer="cpu-a"\} [0-9.e+]+$' \
    "$WORK/metrics.txt"
fetch "${URL}api/state.json" >"$WORK/state.json" || fail "GET /api/state.json"
jv kind "$WORK/state.json" '.runs[0].kind'
expect_eq "the state document's run" "$kind" coordinator
# A request naming another host is refused (a page elsewhere that rebinds
# its name to 127.0.0.1 must not read the run); localhost is this machine.
host_status() { # URL HOST: the HTTP status of a GET with that Host header
    python3 - "$1" "$2" <<'EOF'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers={"Host": sys.argv[2]}),
                           timeout=10)
    print(200)
except urllib.error.HTTPError as e:
    print(e.code)
EOF
}
port=${URL%/}
port=${port##*:}
expect_eq "GET with Host rebind.example:$port" "$(host_status "${URL}api/state.json" "rebind.example:$port")" 421
expect_eq "GET with Host localhost:$port" "$(host_status "${URL}api/state.json" "localhost:$port")" 200

# Clients that open a connection and never finish their request: they
# hold connection slots until the timeout, never the training.
python3 - "${URL}" >"$WORK/slow.out" 2>&1 <<'EOF' &
import socket, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
held = []
for _ in range(40):
    try:
        s = socket.create_connection((u.hostname, u.port), timeout=2)
        s.sendall(b"GET /api/state.json HTTP/1.1\r\nHost: x\r\n")  # never the blank line
        held.append(s)
    except OSError as e:
        print("refused:", e)
print("holding", len(held), "connections", flush=True)
time.sleep(8)
EOF
SLOW=$!
before=$(coord_step)
sleep 8
wait "$SLOW" 2>/dev/null
after=$(coord_step)
note "$(cat "$WORK/slow.out" | tail -1); steps went from $before to $after meanwhile"
[ "$after" -gt "$before" ] || [ "$after" -ge $((STEPS - 1)) ] ||
    fail "no step was applied while 40 HTTP connections hung (step $before -> $after)"
# No round took long while they hung (a blocked coordinator would show here).
slow_rounds=$(jl "$WORK/coordinator.out" '[event=step].seconds' | awk '$1 > 5' | wc -l)
expect_eq "rounds slower than 5 s" "$slow_rounds" 0

if at_step $((STEPS - 1)); then
    note "the run ended before the second look; the advancing step is checked by the first load"
else
    dom live2 "$URL"
    step2=$(python3 "$WEB/check_dom.py" "$SHOTS/live2.html" --print step)
    if [ -z "$step2" ] && ! kill -0 "$COORD_PID" 2>/dev/null; then
        # The page outlived the server: the run ended during the load.
        note "the run ended during the second look; the advancing step is checked by the first load"
    else
        [ "$step2" -gt "$step1" ] 2>/dev/null || fail "the step counter did not advance ($step1, then $step2)"
        note "ok: the step counter advanced from $step1 to $step2"
    fi
fi

wait_exit "$COORD_PID" 180
expect_eq "the coordinator's exit status" "$?" 0

"$CLI" report "$WORK/coordinator.out" -o "$SHOTS/report.html" >"$WORK/report.out" 2>&1 ||
    fail "distro-cli report: $(cat "$WORK/report.out")"
dom report-dom "file://$SHOTS/report.html"
python3 "$WEB/check_dom.py" "$SHOTS/report-dom.html" ready live=0 peers=2 min-points=$STEPS \
    min-step=$((STEPS - 1)) || fail "report.html"
# eval_every 20: the val curve has the coordinator's losses after steps 19
# and 39, and the final one after step 59.
python3 - "$SHOTS/report.html" <<'EOF2' || fail "report.html lacks the val curve of eval_every"
import json, re, sys
page = open(sys.argv[1]).read()
state = json.loads(re.search(r"window\.DISTRO_STATE = (.*?);</script>", page, re.S).group(1))
val = state["runs"][0]["series"]["val_loss"]
assert [p[0] for p in val] == [19, 39, 59], val
EOF2
note "ok: the val curve holds the evaluations after steps 19, 39 and 59"
browser_screenshot "file://$SHOTS/report.html" "$SHOTS/report.png" 3000 1400,2200 60 ||
    fail "screenshot of report.html"
note "ok: report.html shows the whole run; screenshots in $SHOTS"

# distro-cli run writes report.html by itself, with the AdamW baseline's
# curve and each peer's link shaping from the scenario.
cat >"$WORK/scenario.json" <<'EOF2'
{"run": {"model": "tiny", "steps": 8, "micro_batch": 4, "tokens_per_round": 512,
         "checkpoint_every": 0},
 "peers": [{"name": "near", "device": "cpu"},
           {"name": "far", "device": "cpu", "up_mbit": 20, "down_mbit": 50, "latency_ms": 5}],
 "baseline": true, "sample_tokens": 0}
EOF2
(cd "$WORK" && "$CLI" run "$WORK/scenario.json" --report "$SHOTS/run-report.html" >run.out 2>run.err) ||
    fail "distro-cli run: $(tail -3 "$WORK/run.err")"
expect_grep "run names its report" "^report: $SHOTS/run-report.html" "$WORK/run.out"
dom run-report-dom "file://$SHOTS/run-report.html"
python3 "$WEB/check_dom.py" "$SHOTS/run-report-dom.html" ready live=0 peers=2 peer=near peer=far \
    min-points=8 || fail "run's report.html"
python3 - "$SHOTS/run-report.html" <<'EOF2' || fail "run's report.html lacks the baseline or the link"
import json, re, sys
page = open(sys.argv[1]).read()
state = json.loads(re.search(r"window\.DISTRO_STATE = (.*?);</script>", page, re.S).group(1))
run = state["runs"][0]
assert len(run["series"]["baseline_train_loss"]) == 8, run["series"]["baseline_train_loss"]
assert len(run["series"]["baseline_val_loss"]) == 1
links = {p["name"]: p["link"] for p in run["peers"]}
assert links["far"] == "20/50 Mbit/s, 5 ms" and links["near"] == "", links
EOF2
note "ok: run's report.html holds the baseline curve and the link shaping"
note "pass"
