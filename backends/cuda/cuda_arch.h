#ifndef DISTRO_CUDA_ARCH_H
#define DISTRO_CUDA_ARCH_H

#include <stdbool.h>

/* Whether a GPU of compute capability major.minor (`tegra`: an integrated
 * Tegra GPU, cudaDeviceProp.integrated) can run a build for `archs` (CMake
 * CUDA_ARCHITECTURES entries, separated by ',' or ';'):
 * 1 yes, 0 no, -1 cannot tell (an entry such as "native" or "all"). Pure
 * C, no CUDA headers (tests/test_cuda_arch.c checks it on any machine); no
 * cu_ prefix, so the CPU emulation's renamed copy of the backend
 * (tests/cuda_emu/to_cpu.sed) calls this same function. */
int cuda_arch_runs(const char *archs, int major, int minor, bool tegra);

#endif
