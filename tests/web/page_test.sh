#!/usr/bin/env bash
# page_test.sh [SRC_DIR] [OUT_DIR]: the dashboard page (web/page) in headless
# Chromium, without the C server (ctest web_page).
#
#   report mode: dashboard.html with the CSS, Chart.js, a sample state
#     (tests/web/sample_state.json: 2 runs of 3 and 5 peers, 200 steps) and
#     dashboard.js inlined the way the report writer does it; loaded from a
#     file:// URL, its DOM checked, a screenshot taken. The same again with
#     the runs in the other order, so the peer table shows the peer whose name
#     is markup (it must appear as text) and the peers named hasOwnProperty
#     and __proto__ (name-keyed maps must not trip on them).
#   live mode: serve_sample.py serves web/page and an api/state.json whose
#     step advances at every request (20, 23, 26, ...); two loads must see
#     ready=1, one row per peer, a loss chart with points and a later step the
#     second time; the first load must already show a step past the first
#     answer's (the page polls and re-renders within one load); then with a
#     server that answers twice and then 503, the page must keep its render
#     and show the connection-lost banner; with one that never answers, the
#     banner alone.
#
# Screenshots and DOM dumps go to OUT_DIR (default: a temporary folder).
# Exits 77 when python3, Chromium or Chart.js is missing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=${1:-$(cd "$here/../.." && pwd)}
out=${2:-}
page="$src/web/page"
chartjs=${DISTRO_CHARTJS:-/usr/share/javascript/chart.js/chart.min.js}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

command -v python3 >/dev/null 2>&1 || skip "python3 not found"
. "$here/browser_lib.sh"
browser_find || skip "$BROWSER_WHY"
[ -r "$chartjs" ] || skip "Chart.js not found at $chartjs (Debian: apt-get install libjs-chart.js)"
for f in dashboard.html dashboard.js dashboard.css; do
  [ -r "$page/$f" ] || fail "missing $page/$f"
done
if [ -z "$out" ]; then
  out=$(mktemp -d)
  keep_out=0
else
  mkdir -p "$out" || fail "cannot create $out"
  out=$(cd "$out" && pwd)
  keep_out=1
fi
tmp=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$tmp"
  [ $keep_out -eq 1 ] || rm -rf "$out"
}
trap cleanup EXIT
echo "browser: $BROWSER; output in $out"

check() { # check DUMP CHECKS...: prints the summary; fails with the reason
  local dump=$1
  shift
  python3 "$here/check_dom.py" "$dump" "$@" || fail "$(basename "$dump"): DOM checks failed"
}

# ---- report mode ------------------------------------------------------------
python3 "$here/inline_report.py" "$page" "$chartjs" "$here/sample_state.json" "$out/report.html" \
  || fail "could not build the report page"
grep -q '<script src=\|<link rel="stylesheet"' "$out/report.html" && fail "report.html still loads a file"
browser_dump_dom "file://$out/report.html" "$out/report.dom.html" 2000 \
  || fail "chromium could not load report.html"
echo -n "report: "
check "$out/report.dom.html" ready live=0 runs=2 peers=3 peer=cpu-0 peer=opencl-0 peer=vulkan-0 \
  min-points=400 min-events=5 min-step=199 no-id=pwned no-id=pwned2 \
  "event-text=<b id=pwned2>bold</b><script>document.title=2</script>"
browser_screenshot "file://$out/report.html" "$out/report.png" 2000 1400,2000 \
  || fail "no screenshot of report.html"

python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); d["runs"].reverse(); json.dump(d, open(sys.argv[2], "w"))
' "$here/sample_state.json" "$tmp/reversed.json" || fail "python3 could not reorder the sample"
python3 "$here/inline_report.py" "$page" "$chartjs" "$tmp/reversed.json" "$out/report_reversed.html" \
  || fail "could not build the reordered report page"
browser_dump_dom "file://$out/report_reversed.html" "$out/report_reversed.dom.html" 2000 \
  || fail "chromium could not load report_reversed.html"
echo -n "report, runs reversed: "
check "$out/report_reversed.dom.html" ready peers=5 peer=cpu-a \
  "peer=<img src=x id=pwned onerror=document.title=1>" peer=hasOwnProperty peer=__proto__ \
  no-id=pwned no-id=pwned2 min-step=199
browser_screenshot "file://$out/report_reversed.html" "$out/report_reversed.png" 2000 1400,2000 \
  || fail "no screenshot of report_reversed.html"

# ---- live mode ----------------------------------------------------------------
start_server() { # start_server DOWN_AFTER: sets url
  stop_server
  rm -f "$tmp/port"
  python3 "$here/serve_sample.py" "$page" "$chartjs" "$tmp/port" "$1" 2>>"$out/server.log" &
  server_pid=$!
  for _ in $(seq 1 100); do
    [ -s "$tmp/port" ] && break
    kill -0 "$server_pid" 2>/dev/null || fail "sample server died: $(cat "$out/server.log")"
    sleep 0.1
  done
  [ -s "$tmp/port" ] || fail "sample server did not start"
  url="http://127.0.0.1:$(cat "$tmp/port")/"
}
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=
}
: >"$out/server.log"

start_server -1
browser_dump_dom "$url" "$out/live1.dom.html" 2500 || fail "chromium could not load the live page"
echo -n "live, first load: "
check "$out/live1.dom.html" ready live=1 runs=1 peers=3 peer=cpu-0 min-events=1 conn-lost=hidden \
  min-step=23 min-points=24
step1=$(python3 "$here/check_dom.py" "$out/live1.dom.html" --print step)
browser_dump_dom "$url" "$out/live2.dom.html" 2500 || fail "chromium could not load the live page again"
echo -n "live, second load: "
check "$out/live2.dom.html" ready live=1 peers=3 min-points=1
step2=$(python3 "$here/check_dom.py" "$out/live2.dom.html" --print step)
[ "$step2" -gt "$step1" ] 2>/dev/null || fail "step did not advance between two loads: $step1 then $step2"
echo "live: step advanced from $step1 to $step2"
browser_screenshot "$url" "$out/live.png" 2500 1400,2000 || fail "no screenshot of the live page"

# The server answers twice, then 503: the page keeps what it showed and says so.
start_server 2
browser_dump_dom "$url" "$out/live_lost.dom.html" 4000 || fail "chromium could not load the live page (server lost)"
echo -n "live, api lost after two answers: "
check "$out/live_lost.dom.html" ready live=1 peers=3 min-step=23 conn-lost=shown
start_server 2
browser_screenshot "$url" "$out/live_lost.png" 4000 1400,900 || fail "no screenshot of the live page (server lost)"

# The server never answers: no render, the banner shows.
start_server 0
browser_dump_dom "$url" "$out/live_down.dom.html" 2500 || fail "chromium could not load the live page (server down)"
echo -n "live, api answering 503 from the start: "
check "$out/live_down.dom.html" live=1 conn-lost=shown
stop_server

echo "PASS: screenshots: $out/report.png $out/report_reversed.png $out/live.png $out/live_lost.png"
[ $keep_out -eq 1 ] || echo "(temporary output removed; pass OUT_DIR to keep it)"
exit 0
