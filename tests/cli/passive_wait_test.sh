#!/usr/bin/env bash
# passive_wait_test.sh CLI: idle OpenMP threads wait passively in every
# distro-cli command unless the user set a policy (cli/main.c, issue 10).
# OMP_DISPLAY_ENV=verbose makes the OpenMP runtime print what it settled on
# (printed again after distro-cli re-executes itself; the last one counts):
#   GCC's libgomp, at start-up: GOMP_SPINCOUNT, 0 passive, 300000 its default;
#   LLVM's libomp (clang builds), when its runtime first starts: KMP_BLOCKTIME
#   in ms, 0 passive, 200 its default.
set -u
cli=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# setting NAME ENV... -- ARGS: the last value of NAME the runtime printed.
# (GCC 13's libgomp and libomp put "[host] " before each setting.)
setting() {
  local name=$1 envs=()
  shift
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u KMP_BLOCKTIME "${envs[@]}" OMP_DISPLAY_ENV=verbose \
    "$cli" "$@" >"$tmp/out" 2>"$tmp/err"
  sed -n "s/^ *\(\[host\] \)\{0,1\}$name \{0,1\}= \{0,1\}'\([0-9]*\)'.*/\2/p" "$tmp/err" | tail -n 1
}

# Commands that run parallel regions (libomp starts its runtime, and prints,
# only then).
commands=("devices --json" "train --preset tiny --steps 1 --batch 1 --device cpu --json")

if [ -n "$(setting GOMP_SPINCOUNT -- --version)" ]; then
  runtime=libgomp knob=GOMP_SPINCOUNT active=30000000000 user=(GOMP_SPINCOUNT=12345) want_user=12345
  commands=("--version" "${commands[@]}")
elif [ -n "$(setting KMP_BLOCKTIME -- devices --json)" ]; then
  runtime=libomp knob=KMP_BLOCKTIME active=2147483647 user=(KMP_BLOCKTIME=50) want_user=50
else
  echo "SKIP: neither GOMP_SPINCOUNT (libgomp) nor KMP_BLOCKTIME (libomp) in OMP_DISPLAY_ENV=verbose" \
       "output: this build's OpenMP runtime is neither, or OpenMP is off"
  exit 77
fi
for args in "${commands[@]}"; do
  # shellcheck disable=SC2086
  value=$(setting $knob -- $args)
  [ "$value" = 0 ] || fail "$runtime, '$args': $knob '$value', want 0 (passive); $(tail -n 3 "$tmp/err")"
done
echo "every command checked waits passively by default ($runtime)"

# The user's choice stands: ACTIVE spins for ever, the runtime's own knob is kept.
value=$(setting $knob OMP_WAIT_POLICY=ACTIVE -- devices --json)
[ "$value" = "$active" ] || fail "$runtime, OMP_WAIT_POLICY=ACTIVE: $knob $value, want $active"
value=$(setting $knob "${user[@]}" -- devices --json)
[ "$value" = "$want_user" ] || fail "$runtime, ${user[*]}: $knob $value, want $want_user"
echo "PASS: passive by default, the user's OMP_WAIT_POLICY and $knob kept ($runtime)"
