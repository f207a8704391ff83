#!/usr/bin/env bash
# tests/ocl_gpu_registers.sh SOURCE_DIR: the OpenCL kernels GPUs take,
# compiled by real GPU compilers, keep their working set in registers:
# clang's AMDGPU backend (the compiler of AMD's ROCm OpenCL) for RDNA2
# (gfx1030) and CDNA2 (gfx90a), and, where the CUDA toolkit's ptxas is
# installed, clang's NVPTX output assembled by ptxas for sm_86 (the
# attention files only, see below). Any private
# (scratch) or local memory, or a spilled register, fails. The exception is
# kernels/attention.cl, the attention written for CPU devices (one row per
# work-item, in private arrays): its figures are printed beside the GPU
# attention's (kernels/attention_tiled.cl) for comparison.
#
# Each program is compiled as the backend builds it: kernels/common.cl in
# front, the backend's -D sizes (read from opencl_backend.h). Library calls
# are replaced by the GPUs' intrinsics (tests/ocl_gpu_shim.h): without the
# vendors' device libraries clang would leave them as calls, and reserve a
# stack for them. Skips (77) without a clang that has the AMDGPU target.
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
defines=()
for name in WG_1D WG_ROW WG_REDUCE REDUCE_GROUPS WG_TILE WG_ATTN ATTN_HEAD_DIM_MAX; do
  value=$(sed -n "s/^#define OCL_$name *\([0-9]*\).*/\1/p" "$hdr")
  [ -n "$value" ] || { echo "FAIL: no OCL_$name in $hdr"; exit 1; }
  defines+=("-D${name/ATTN_/}=$value")
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags=(-x cl -cl-std=CL1.2 -O3 -Xclang -finclude-default-header -include "$src/tests/ocl_gpu_shim.h"
       "${defines[@]}")
programs=(elementwise nn attention attention_tiled demo demo_apply)
failed=0

# report TARGET PROGRAM < "kernel private_bytes registers spilled" lines (not
# in a pipeline: it sets `failed`)
report() {
  local target=$1 program=$2 name private regs spilled
  while read -r name private regs spilled; do
    local verdict=""
    if [ "$program" = attention ]; then
      verdict="  (CPU kernel, for comparison)"
    elif [ "$private" != 0 ] || [ "$spilled" != 0 ]; then
      verdict="  FAIL"
      failed=1
    fi
    printf '  %-8s %-26s %5s bytes per-thread memory, %3s registers, %s spilled%s\n' \
      "$target" "$name" "$private" "$regs" "$spilled" "$verdict"
  done
}

compile() { # TARGET-FLAGS... -- PROGRAM OUT
  local args=() program out
  while [ "$1" != -- ]; do args+=("$1"); shift; done
  program=$2 out=$3
  cat "$kernels/common.cl" "$kernels/$program.cl" >"$tmp/$program.cl"
  if ! "$clang" "${flags[@]}" "${args[@]}" -S "$tmp/$program.cl" -o "$out" 2>"$tmp/err"; then
    echo "FAIL: clang could not compile kernels/$program.cl (${args[*]}):"
    head -n 5 "$tmp/err"
    exit 1
  fi
}

for cpu in gfx1030 gfx90a; do
  for program in "${programs[@]}"; do
    compile -target amdgcn-amd-amdhsa -mcpu=$cpu -nogpulib -- "$program" "$tmp/$program.s"
    # A call left in would reserve a stack of a guessed size: the figures would mean nothing.
    if grep -q s_swappc "$tmp/$program.s"; then
      echo "FAIL: kernels/$program.cl for $cpu still calls library functions (extend tests/ocl_gpu_shim.h)"
      exit 1
    fi
    awk '/^ +\.name: /{n=$2} /\.private_segment_fixed_size:/{p=$2} /\.vgpr_count:/{v=$2}
         /\.vgpr_spill_count:/{print n, p, v, $2}' "$tmp/$program.s" >"$tmp/$program.txt"
    report "$cpu" "$program" <"$tmp/$program.txt"
  done
done

ptxas=$(command -v ptxas || true)
[ -z "$ptxas" ] && [ -x /usr/local/cuda/bin/ptxas ] && ptxas=/usr/local/cuda/bin/ptxas
if [ -z "$ptxas" ]; then
  echo "  (no ptxas from the CUDA toolkit: the NVIDIA check is not run)"
elif ! "$clang" -print-targets | grep -q nvptx64; then
  echo "  ($clang has no NVPTX target: the NVIDIA check is not run)"
else
  # Only the attention files: clang's NVPTX backend lowers a vector lane
  # picked at run time through local memory, and it makes one out of the
  # DeMo kernels' partial-vector edges (common.cl), 32 bytes per thread
  # where AMDGPU needs none. NVIDIA's own OpenCL compiler is not clang.
  for program in attention attention_tiled; do
    compile -target nvptx64-nvidia-nvcl -- "$program" "$tmp/$program.ptx"
    "$ptxas" -arch=sm_86 -v "$tmp/$program.ptx" -o "$tmp/$program.cubin" 2>"$tmp/ptxas.log" ||
      { echo "FAIL: ptxas on kernels/$program.cl:"; head -n 5 "$tmp/ptxas.log"; exit 1; }
    # Per kernel: "Compiling entry function 'NAME'", "N bytes stack frame,
    # S bytes spill stores, L bytes spill loads", "Used R registers".
    awk '/Compiling entry function/{n=$7; gsub(/\047/, "", n)}
         /bytes stack frame/{f=$1; s=$5 + $9}
         /Used [0-9]+ registers/{print n, f, $5, s}' "$tmp/ptxas.log" >"$tmp/$program.txt"
    report sm_86 "$program" <"$tmp/$program.txt"
  done
fi
if [ "$failed" = 0 ]; then
  echo "PASS: the OpenCL kernels GPUs take keep to registers and local memory"
else
  echo "FAIL: an OpenCL kernel GPUs take uses per-thread memory or spills"
fi
exit "$failed"
