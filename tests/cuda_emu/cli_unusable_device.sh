# shellcheck shell=bash
# A GPU this build has no code for, through the CLI (issue 10): the emulated
# driver plays a compute capability 7.0 card (a V100; CUDA 13 compiles
# nothing below 7.5). `devices` lists it as unusable with the reason and
# exits 0, in the table and under "unusable_devices" in --json, and not
# among the devices; `train --device cudaemu:0` fails at once with that
# reason and how to build for it. On the emulator's default (9.0) machine
# the same device is listed as a device, so the test tells the two apart.
# Arguments as every e2e script (distro-cli-cudaemu first).
source "$(dirname "$0")/../e2e/e2e_lib.sh"

have_device cudaemu:0 || fail "$CLI has no cudaemu:0: not the CLI built with the emulation"
REASON='CUDA emulated on the CPU \(compute capability 7\.0\) cannot run this build'

# ---- the default machine: a usable device ----------------------------------
"$CLI" devices >"$WORK/default.out" 2>"$WORK/default.err" || fail "devices failed on the 9.0 machine"
expect_grep "a 9.0 device is listed as a device" '^cudaemu:0 +discrete-gpu ' "$WORK/default.out"
expect_no_grep "and not as unusable" 'unusable' "$WORK/default.out"

# ---- a 7.0 device -----------------------------------------------------------
export DISTRO_CUDA_EMU_DRIVER=volta
rc=0
"$CLI" devices >"$WORK/volta.out" 2>"$WORK/volta.err" || rc=$?
expect_eq "devices' exit status with an unusable GPU" "$rc" 0
expect_grep "the table names it unusable, with the reason" "^cudaemu:0 +unusable: $REASON" \
    "$WORK/volta.out"
expect_no_grep "and does not list it as a device" '^cudaemu:0 +discrete-gpu' "$WORK/volta.out"
expect_grep "the other devices are still listed" '^cpu +cpu ' "$WORK/volta.out"

rc=0
"$CLI" devices --json >"$WORK/volta.json" 2>"$WORK/volta-json.err" || rc=$?
expect_eq "devices --json's exit status with an unusable GPU" "$rc" 0
why=""
jv why "$WORK/volta.json" '.unusable_devices[spec=cudaemu:0].reason'
[[ "$why" =~ $REASON ]] || fail "unusable_devices' reason: '$why'"
note "ok: --json lists cudaemu:0 under unusable_devices: $why"
if "$JSONQ" "$WORK/volta.json" '.devices[spec=cudaemu:0].spec' >/dev/null 2>&1; then
    fail "--json lists the unusable cudaemu:0 among the devices too"
fi
note "ok: --json does not list it among the devices"

rc=0
"$CLI" train --device cudaemu:0 --steps 1 >"$WORK/train.out" 2>"$WORK/train.err" || rc=$?
expect_eq "train on the unusable device: exit status" "$rc" 1
expect_grep "train names the reason" "$REASON" "$WORK/train.err"
expect_grep "and how to build for it" 'DISTRO_CUDA_ARCHS=70' "$WORK/train.err"
note "PASS"
