#!/usr/bin/env bash
# tests/ocl_gpu_registers.sh SOURCE_DIR: the OpenCL backend's GPU attention
# kernels (kernels/attention_tiled.cl) compiled by real GPU compilers keep
# their working set in registers: clang's AMDGPU backend (the compiler of
# AMD's ROCm OpenCL) for RDNA2 (gfx1030) and CDNA2 (gfx90a), and, where the
# CUDA toolkit's ptxas is installed, clang's NVPTX output assembled by ptxas
# for sm_86. Any private (scratch) or local memory, or a spilled register,
# in a *_tiled kernel fails. The CPU kernels (kernels/attention.cl, one row
# per work-item in private arrays) are printed beside them for comparison.
#
# Library calls are replaced by the GPUs' intrinsics (tests/ocl_gpu_shim.h):
# without the vendors' device libraries clang would leave them as calls.
# Skips (77) without a clang that has the AMDGPU target.
set -u
src=${1:?usage: ocl_gpu_registers.sh SOURCE_DIR}
kernels=$src/backends/opencl/kernels
clang=${CLANG:-$(command -v clang || true)}
if [ -z "$clang" ]; then
  echo "SKIP: clang not found (apt-get install clang)"
  exit 77
fi
if ! "$clang" -print-targets 2>/dev/null | grep -q amdgcn; then
  echo "SKIP: $clang has no AMDGPU target"
  exit 77
fi
hdr=$src/backends/opencl/opencl_backend.h
hd_max=$(sed -n 's/^#define OCL_ATTN_HEAD_DIM_MAX *\([0-9]*\).*/\1/p' "$hdr")
wg_attn=$(sed -n 's/^#define OCL_WG_ATTN *\([0-9]*\).*/\1/p' "$hdr")
[ -n "$hd_max" ] && [ -n "$wg_attn" ] || { echo "FAIL: cannot read the kernels' sizes from $hdr"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat "$kernels/common.cl" "$kernels/attention.cl" "$kernels/attention_tiled.cl" >"$tmp/all.cl"
flags=(-x cl -cl-std=CL1.2 -O3 -Xclang -finclude-default-header -include "$src/tests/ocl_gpu_shim.h"
       -DWG_ATTN="$wg_attn" -DHEAD_DIM_MAX="$hd_max")
failed=0

# report TARGET < "name private_bytes registers spilled" lines (not in a
# pipeline: it sets `failed`)
report() {
  local target=$1 name private regs spilled
  while read -r name private regs spilled; do
    local verdict=""
    if [[ $name == *_tiled ]]; then
      if [ "$private" != 0 ] || [ "$spilled" != 0 ]; then verdict="  FAIL"; failed=1; fi
    else
      verdict="  (CPU kernel, for comparison)"
    fi
    printf '  %-8s %-26s %5s bytes per-thread memory, %3s registers, %s spilled%s\n' \
      "$target" "$name" "$private" "$regs" "$spilled" "$verdict"
  done
}

for cpu in gfx1030 gfx90a; do
  if ! "$clang" "${flags[@]}" -target amdgcn-amd-amdhsa -mcpu=$cpu -nogpulib -S "$tmp/all.cl" \
       -o "$tmp/$cpu.s" 2>"$tmp/err"; then
    echo "FAIL: clang could not compile the kernels for $cpu:"; head -n 5 "$tmp/err"
    exit 1
  fi
  # A call left in would reserve a stack of a guessed size: the figures would mean nothing.
  if grep -q s_swappc "$tmp/$cpu.s"; then
    echo "FAIL: $cpu code still calls library functions (extend tests/ocl_gpu_shim.h)"
    exit 1
  fi
  awk '/^ +\.name: /{n=$2} /\.private_segment_fixed_size:/{p=$2} /\.vgpr_count:/{v=$2}
       /\.vgpr_spill_count:/{if (n ~ /^attention/) print n, p, v, $2}' "$tmp/$cpu.s" >"$tmp/$cpu.txt"
  report "$cpu" <"$tmp/$cpu.txt"
done

ptxas=$(command -v ptxas || true)
[ -z "$ptxas" ] && [ -x /usr/local/cuda/bin/ptxas ] && ptxas=/usr/local/cuda/bin/ptxas
if [ -z "$ptxas" ]; then
  echo "  (no ptxas from the CUDA toolkit: the NVIDIA check is not run)"
elif ! "$clang" -print-targets | grep -q nvptx64; then
  echo "  ($clang has no NVPTX target: the NVIDIA check is not run)"
else
  "$clang" "${flags[@]}" -target nvptx64-nvidia-nvcl -S "$tmp/all.cl" -o "$tmp/k.ptx" 2>"$tmp/err" ||
    { echo "FAIL: clang could not compile the kernels for NVPTX:"; head -n 5 "$tmp/err"; exit 1; }
  "$ptxas" -arch=sm_86 -v "$tmp/k.ptx" -o "$tmp/k.cubin" 2>"$tmp/ptxas.log" ||
    { echo "FAIL: ptxas:"; head -n 5 "$tmp/ptxas.log"; exit 1; }
  # Per kernel: "Compiling entry function 'NAME'", "N bytes stack frame, S bytes spill stores, ...",
  # "Used R registers".
  awk '/Compiling entry function/{n=$7; gsub(/\047/, "", n)}
       /bytes stack frame/{f=$1; s=$5 + $9}
       /Used [0-9]+ registers/{if (n ~ /^attention/) print n, f, $5, s}' "$tmp/ptxas.log" >"$tmp/sm_86.txt"
  report sm_86 <"$tmp/sm_86.txt"
fi
if [ "$failed" = 0 ]; then
  echo "PASS: the GPU attention kernels keep to registers and local memory"
else
  echo "FAIL: a GPU attention kernel uses per-thread memory or spills"
fi
exit "$failed"
