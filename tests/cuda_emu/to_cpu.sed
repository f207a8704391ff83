# Turns a source of backends/cuda into one for the CPU emulation (cuda_emu.h,
# emu_runtime.cpp). Everything the backend defines gets an emu_ name, so it
# never clashes with the real backend in libdistro.a: the launchers (cuk_ ->
# emu_cuk_), the host code (cu_ -> emu_cu_), the backend (registered as
# "cudaemu", devices cudaemu:N); its own headers become the emulation's
# copies; dlopen and friends reach the emulated driver and cuBLAS; dynamic
# shared memory comes from the emulation's buffer; and
# kernel<<<grid, block, smem, stream>>>(args) becomes a call.
s/\bcuk_/emu_cuk_/g
s/\bcu_/emu_cu_/g
s/\bdt_backend_cuda\b/dt_backend_cuda_emu/g
s/"cuda"/"cudaemu"/g
s|backends/cuda/cuda_kernels.h|emu_cuda_kernels.h|
s|backends/cuda/cuda_backend.h|emu_cuda_backend.h|
s/\bdl(open|sym|close|error)\b/emu_dl\1/g
s/extern __shared__ (\w+) (\w+)\[\];/\1 *\2 = (\1 *)emu_dynamic_smem;/
s/(\w+)<<<(.*)>>>\(/emu_launch(\1, \2, /
