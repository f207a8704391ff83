#!/usr/bin/env bash
# start_checks.sh CASE CLI: what distro-cli refuses before any training
# (issue 12), each within seconds and naming the problem.
#   join_address       a bad port, no port or no host fails at once; nothing
#                      listening gives up after --connect-timeout, saying so;
#                      --help documents the 60 s default
#   join_unknown_host  a host name that does not exist fails at once
#   coordinator_outputs  --checkpoint-dir, --summary and --record are checked
#                      before the port is bound (no ready file appears)
#   short_dataset      a dataset whose validation split is shorter than one
#                      window is refused by train, coordinator and join
# Every wait is bounded by timeout(1); every process started is ended.
set -u
case_name=$1
cli=$(cd "$(dirname "$2")" && pwd)/$(basename "$2") # the cases change folders
tmp=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -s "$tmp/out" ] && sed 's/^/  | /' "$tmp/out"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

# expect_refused RC PATTERN WHAT CMD...: CMD exits RC within 20 s and its
# output has PATTERN (a fixed string).
expect_refused() {
  local want=$1 pattern=$2 what=$3 rc
  shift 3
  timeout 20 "$@" >"$tmp/out" 2>&1; rc=$?
  [ $rc -eq "$want" ] || fail "$what: exit status $rc, expected $want"
  grep -qF -- "$pattern" "$tmp/out" || fail "$what: no '$pattern' in the output"
  echo "ok: $what"
}

# A free loopback port: bound by the kernel's choice, then released.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# write_shard FILE N: an llm.c token shard of N byte-valued tokens.
write_shard() {
  python3 - "$1" "$2" <<'PY'
import struct, sys
n = int(sys.argv[2])
header = [20240520, 1, n] + [0] * 253
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<256i", *header))
    f.write(struct.pack("<%dH" % n, *[(i * 7) % 256 for i in range(n)]))
PY
}

case "$case_name" in
join_address)
  command -v python3 >/dev/null || skip "python3 (to pick a free port) not installed"
  expect_refused 1 "bad port 'abc'" "a port that is not a number" \
    "$cli" join 127.0.0.1:abc --device cpu
  expect_refused 1 "bad port '99999'" "a port above 65535" "$cli" join 127.0.0.1:99999 --device cpu
  expect_refused 1 "has no port" "no port" "$cli" join 127.0.0.1 --device cpu
  expect_refused 1 "no host to connect to" "no host" "$cli" join :7070 --device cpu
  ! grep -q "tokens/s" "$tmp/out" || fail "an address error is reported after the device work"
  port=$(free_port) || fail "no free port"
  start=$(date +%s)
  expect_refused 1 "no coordinator at tcp://127.0.0.1:$port after 2 s: nothing is listening there" \
    "nothing listening, --connect-timeout 2" \
    "$cli" join "127.0.0.1:$port" --device cpu --connect-timeout 2
  [ $(($(date +%s) - start)) -lt 10 ] || fail "giving up took $(($(date +%s) - start)) s"
  ! grep -q "left the run" "$tmp/out" || fail "a peer that never joined says it left the run"
  # Ctrl-C before any connection: it says what it was waiting for.
  "$cli" join "127.0.0.1:$port" --device cpu --connect-timeout 0 >"$tmp/out" 2>&1 &
  pid=$!
  pids+=("$pid")
  sleep 3
  kill -0 "$pid" 2>/dev/null || fail "--connect-timeout 0 gave up"
  kill -INT "$pid"
  timeout 10 tail --pid="$pid" -f /dev/null || fail "join ignored SIGINT"
  wait "$pid"; rc=$?
  [ $rc -eq 130 ] || fail "join after SIGINT exited $rc, expected 130"
  grep -qF "stopped before reaching the coordinator at tcp://127.0.0.1:$port: nothing is listening" \
    "$tmp/out" || fail "no reason after SIGINT"
  echo "ok: --connect-timeout 0 waits until Ctrl-C, then says why it never joined"
  "$cli" join --help >"$tmp/out" 2>&1 || fail "join --help exited $?"
  grep -q -- "--connect-timeout S .*default 60; 0: wait for ever" "$tmp/out" ||
    fail "join --help does not document the default timeout"
  echo "ok: join --help documents the default"
  ;;
join_unknown_host)
  host=no-such-host.invalid
  command -v getent >/dev/null || skip "getent not installed (to ask the resolver first)"
  # RFC 2606 reserves .invalid; the resolver must answer "no such name"
  # (getent exit 2) rather than time out, or the premise is absent.
  timeout 20 getent hosts "$host" >/dev/null; rc=$?
  [ $rc -eq 2 ] || skip "the resolver does not answer 'not found' for $host (getent: $rc)"
  start=$(date +%s)
  expect_refused 1 "unknown host '$host'" "an unknown host" "$cli" join "$host:7070" --device cpu
  [ $(($(date +%s) - start)) -lt 10 ] || fail "an unknown host took $(($(date +%s) - start)) s"
  ! grep -q "tokens/s" "$tmp/out" || fail "an unknown host is reported after the device work"
  ;;
coordinator_outputs)
  echo '{"model": "tiny", "steps": 2}' >"$tmp/run.json"
  touch "$tmp/afile"
  coord=("$cli" coordinator --config "$tmp/run.json" --open --listen tcp://127.0.0.1:0
    --ready-file "$tmp/ready")
  expect_refused 1 "--checkpoint-dir $tmp/no/ck: cannot create it: its parent folder does not exist" \
    "a checkpoint folder whose parent is missing" "${coord[@]}" --checkpoint-dir "$tmp/no/ck"
  expect_refused 1 "--checkpoint-dir $tmp/afile: not a folder" "a file as checkpoint folder" \
    "${coord[@]}" --checkpoint-dir "$tmp/afile"
  # /proc takes no new files, even from root: the write probe, not the
  # permission bits, must notice.
  if [ -d /proc/self ]; then
    expect_refused 1 "--checkpoint-dir /proc: cannot write in the folder /proc" \
      "a checkpoint folder that takes no files" "${coord[@]}" --checkpoint-dir /proc
  else
    echo "note: no /proc here; the write probe is not exercised"
  fi
  expect_refused 1 "--summary $tmp/no/s.json: the folder $tmp/no does not exist" \
    "a summary in a missing folder" "${coord[@]}" --summary "$tmp/no/s.json"
  expect_refused 1 "--summary /dev/null: not a regular file" "a summary on a device" \
    "${coord[@]}" --summary /dev/null
  expect_refused 1 "--record $tmp/no/r.bin: the folder $tmp/no does not exist" \
    "a record in a missing folder" "${coord[@]}" --record "$tmp/no/r.bin"
  [ ! -e "$tmp/ready" ] || fail "a refused coordinator bound its port (ready file written)"
  # Paths that are fine pass, and the probe leaves nothing behind.
  "${coord[@]}" --checkpoint-dir "$tmp/ck" --summary "$tmp/s.json" --record "$tmp/r.bin" \
    >"$tmp/out" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 300); do [ -s "$tmp/ready" ] || ! kill -0 "$pid" 2>/dev/null && break; sleep 0.1; done
  [ -s "$tmp/ready" ] || fail "the coordinator did not start with valid output paths"
  kill -TERM "$pid"
  timeout 20 tail --pid="$pid" -f /dev/null || fail "the coordinator ignored SIGTERM"
  [ -z "$(ls -A "$tmp/ck")" ] || fail "the write probe left files: $(ls -A "$tmp/ck")"
  echo "ok: valid output paths pass, and the probe leaves the folder empty"
  ;;
short_dataset)
  command -v python3 >/dev/null || skip "python3 (to write token shards) not installed"
  # The tiny preset has seq_len 32: each split needs 33 tokens. 200 tokens
  # split into 180 train and 20 validation.
  mkdir "$tmp/long" "$tmp/short"
  write_shard "$tmp/short/data.bin" 200
  write_shard "$tmp/long/data.bin" 4000
  want="data.bin (200 tokens) is too short for seq_len 32: its validation split (the last 10%) has 20 tokens and needs at least 33"
  expect_refused 1 "$want" "train on a short dataset" \
    "$cli" train --preset tiny --steps 1 --device cpu --data "$tmp/short/data.bin"
  ! grep -q "step 1" "$tmp/out" || fail "train trained a step on a short dataset"
  echo '{"model": "tiny", "steps": 2, "data": "data.bin"}' >"$tmp/run.json"
  (cd "$tmp/short" && expect_refused 1 "$want" "a coordinator on a short dataset" \
    "$cli" coordinator --config "$tmp/run.json" --open --listen tcp://127.0.0.1:0 \
    --ready-file "$tmp/ready") || exit 1
  [ ! -e "$tmp/ready" ] || fail "a coordinator on a short dataset bound its port"
  # A peer opens the run's data path on its own machine: here the same
  # relative path names the long file for the coordinator and the short one
  # for the peer, which must refuse it before its first round.
  (cd "$tmp/long" && exec "$cli" coordinator --config "$tmp/run.json" --open \
    --listen tcp://127.0.0.1:0 --ready-file "$tmp/ready" >"$tmp/coord.out" 2>&1) &
  pids+=("$!")
  for _ in $(seq 300); do [ -s "$tmp/ready" ] && break; sleep 0.1; done
  [ -s "$tmp/ready" ] || { cat "$tmp/coord.out"; fail "the coordinator on the long dataset did not start"; }
  addr=$(sed -n 1p "$tmp/ready")
  (cd "$tmp/short" && expect_refused 1 "$want" "a peer whose copy of the data is short" \
    "$cli" join "${addr/0.0.0.0/127.0.0.1}" --device cpu --connect-timeout 10) || exit 1
  ! grep -q "step 1/" "$tmp/out" || fail "the peer trained a step on a short dataset"
  ;;
*)
  fail "unknown case $case_name"
  ;;
esac
echo "PASS: $case_name"
