# Turns a CUDA source of backends/cuda into C++ for the CPU emulation
# (cuda_emu.h): launchers renamed emu_cuk_*, so they never clash with the
# real ones in libdistro.a; dynamic shared memory from the emulation's
# buffer; kernel<<<grid, block, smem, stream>>>(args) as a call.
s/\bcuk_/emu_cuk_/g
s|backends/cuda/cuda_kernels.h|emu_cuda_kernels.h|
s/extern __shared__ (\w+) (\w+)\[\];/\1 *\2 = (\1 *)emu_dynamic_smem.data();/
s/(\w+)<<<(.*)>>>\(/emu_launch(\1, \2, /
