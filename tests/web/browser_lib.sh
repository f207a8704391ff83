# browser_lib.sh: headless Chromium for the dashboard tests. Source it:
#
#   . tests/web/browser_lib.sh
#   browser_find || { echo "SKIP: $BROWSER_WHY"; exit 77; }
#   browser_dump_dom URL OUT.html [BUDGET_MS] [TIMEOUT_S]
#   browser_screenshot URL OUT.png [BUDGET_MS] [WIDTH,HEIGHT] [TIMEOUT_S]
#
# browser_find sets BROWSER to chromium, chromium-browser, google-chrome or
# $DISTRO_BROWSER (an explicit path wins), or sets BROWSER_WHY and returns 1.
# Each run gets a fresh throw-away profile (so parallel tests never share a
# lock), runs under `timeout`, and uses --virtual-time-budget: the page's
# timers (the dashboard polls every second) run for BUDGET_MS of virtual time,
# waiting for network answers, before the DOM is dumped or the picture taken.
# Chromium's own stderr goes to OUT.log next to OUT. Returns chromium's exit
# status (124 on timeout) or 1 when OUT is missing or empty.

browser_find() {
  BROWSER=
  BROWSER_WHY=
  local c
  for c in "${DISTRO_BROWSER:-}" chromium chromium-browser google-chrome google-chrome-stable; do
    [ -n "$c" ] || continue
    if command -v "$c" >/dev/null 2>&1; then
      BROWSER=$(command -v "$c")
      return 0
    fi
  done
  BROWSER_WHY="no chromium, chromium-browser or google-chrome on PATH (Debian: apt-get install chromium)"
  return 1
}

# The flags every run uses; --no-sandbox because the sandbox refuses to run as
# root (and containers often lack the namespaces it needs).
_browser_run() {
  local timeout_s=$1
  shift
  local profile
  profile=$(mktemp -d "${TMPDIR:-/tmp}/distro-chromium.XXXXXX") || return 1
  timeout -k 5 "$timeout_s" "$BROWSER" \
    --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --no-default-browser-check --disable-extensions \
    --disable-background-networking --disable-sync --disable-component-update \
    --metrics-recording-only --mute-audio --hide-scrollbars \
    --user-data-dir="$profile" "$@"
  local rc=$?
  rm -rf "$profile"
  return $rc
}

browser_dump_dom() {
  local url=$1 out=$2 budget=${3:-3000} timeout_s=${4:-60}
  [ -n "${BROWSER:-}" ] || browser_find || return 1
  _browser_run "$timeout_s" --virtual-time-budget="$budget" --dump-dom "$url" \
    >"$out" 2>"$out.log"
  local rc=$?
  [ $rc -eq 0 ] || { echo "browser_dump_dom: chromium exited $rc for $url (log: $out.log)" >&2; return $rc; }
  [ -s "$out" ] || { echo "browser_dump_dom: empty DOM for $url (log: $out.log)" >&2; return 1; }
  return 0
}

browser_screenshot() {
  local url=$1 out=$2 budget=${3:-3000} size=${4:-1400,2000} timeout_s=${5:-60}
  [ -n "${BROWSER:-}" ] || browser_find || return 1
  case $out in /*) ;; *) out=$PWD/$out ;; esac
  rm -f "$out"
  _browser_run "$timeout_s" --virtual-time-budget="$budget" --window-size="$size" \
    --screenshot="$out" "$url" >"$out.log" 2>&1
  local rc=$?
  [ $rc -eq 0 ] || { echo "browser_screenshot: chromium exited $rc for $url (log: $out.log)" >&2; return $rc; }
  [ -s "$out" ] || { echo "browser_screenshot: no picture for $url (log: $out.log)" >&2; return 1; }
  return 0
}
