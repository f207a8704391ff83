#!/bin/sh
# cuda_gate.sh CLI TEST [ARGS...]: run TEST on cuda:0 (DISTRO_TEST_DEVICES),
# or skip (exit 77) with the CUDA backend's own reason when this machine has
# no CUDA device: no driver, no device, or a driver too old for the runtime.
cli=$1
shift
line=$("$cli" devices 2>&1 | grep -E '^cuda')
case "$line" in
  cuda:0*) ;;
  *)
    echo "SKIP: no CUDA device here: $(echo "$line" | sed 's/^cuda *no devices: //')"
    exit 77
    ;;
esac
DISTRO_TEST_DEVICES=cuda:0 DISTRO_TEST_DEVICE=cuda:0 exec "$@"
