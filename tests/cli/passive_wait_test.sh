#!/usr/bin/env bash
# passive_wait_test.sh CLI: idle OpenMP threads wait passively in every
# distro-cli command unless the user set a policy (cli/main.c, issue 10).
# libgomp's verbose OMP_DISPLAY_ENV prints the spin count it settled on at
# start-up (printed again after distro-cli re-executes itself; the last one
# counts): 0 is passive, 300000 libgomp's spinning default.
set -u
cli=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# spin_count ENV... -- ARGS: the last GOMP_SPINCOUNT libgomp printed.
spin_count() {
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "${envs[@]}" OMP_DISPLAY_ENV=verbose "$cli" "$@" \
    >"$tmp/out" 2>"$tmp/err"
  # GCC 13's libgomp puts "[host] " before each setting, GCC 12's does not.
  sed -n "s/^ *\(\[host\] \)\{0,1\}GOMP_SPINCOUNT = '\([0-9]*\)'.*/\2/p" "$tmp/err" | tail -n 1
}

count=$(spin_count -- --version)
if [ -z "$count" ]; then
  echo "SKIP: no GOMP_SPINCOUNT in OMP_DISPLAY_ENV=verbose output: this build's OpenMP is not" \
       "libgomp (or OpenMP is off), so there is no libgomp spin count to check"
  exit 77
fi
[ "$count" = 0 ] || fail "--version without OMP_WAIT_POLICY: spin count $count, want 0 (passive)"
for args in "devices --json" "train --preset tiny --steps 1 --batch 1 --device cpu --json"; do
  # shellcheck disable=SC2086
  count=$(spin_count -- $args)
  [ "$count" = 0 ] || fail "'$args': spin count '$count', want 0 (passive); $(tail -n 3 "$tmp/err")"
done
echo "every command checked waits passively by default"

# The user's choice stands: ACTIVE spins for ever, a given GOMP_SPINCOUNT is kept.
count=$(spin_count OMP_WAIT_POLICY=ACTIVE -- --version)
[ "$count" = 30000000000 ] || fail "OMP_WAIT_POLICY=ACTIVE: spin count $count, want 30000000000"
count=$(spin_count GOMP_SPINCOUNT=12345 -- --version)
[ "$count" = 12345 ] || fail "GOMP_SPINCOUNT=12345: spin count $count, want 12345"
echo "PASS: passive by default, the user's OMP_WAIT_POLICY and GOMP_SPINCOUNT kept"
