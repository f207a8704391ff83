// A CPU emulation of CUDA's execution model, for checking the CUDA backend's
// kernels on a machine without a GPU (tests/cuda_emu). Force-included into
// the kernels (backends/cuda/*.cu turned into C++ by to_cpu.sed).
//
// Each block's threads are fibers (ucontext) on the calling thread, switched
// only at __syncthreads and warp shuffles, so a block of 256 threads costs
// microseconds, not 256 thread creations; blocks run one after another, so
// __shared__ (a static here) belongs to the running block. A barrier that
// some threads of the block never reach is a deadlock on a GPU; here it
// aborts with the kernel's name. The float intrinsics are plain IEEE
// operations: these files are compiled with -ffp-contract=off, as
// __fmul_rn/__fadd_rn are never contracted on a GPU.
//
// Launches go through emu_launch (emu_runtime.cpp's stream order and
// checks: launch configuration, dynamic shared memory against the kernel's
// attribute, every pointer argument inside a device allocation). What this
// checks is the kernels' logic (indexing, synchronisation, the order of the
// canonical update's operations), not a GPU's arithmetic or timing.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>

#include "cuda_runtime_api.h"

struct emu_dim3 {
    unsigned x = 1, y = 1, z = 1;
};
extern emu_dim3 threadIdx, blockIdx, blockDim, gridDim;
extern char *emu_dynamic_smem; // this launch's dynamic shared memory

// A barrier over `expected` fibers of the running block.
struct emu_barrier {
    unsigned expected, arrived, generation;
};
void emu_barrier_wait(emu_barrier *b);
emu_barrier *emu_block_barrier();
emu_barrier *emu_warp_barrier(unsigned warp);
// A shuffle's values, double-buffered: [shuffle parity][warp][lane].
extern float emu_warp_lanes[2][32][32];
extern unsigned char emu_shuffle_parity[1024]; // per thread, 0 at block start

#define __global__
#define __device__
#define __shared__ static

inline void __syncthreads() {
    emu_barrier_wait(emu_block_barrier());
}
// Every lane writes its value, waits for the warp, reads its partner's. The
// next shuffle writes the other buffer, and the one after can only begin
// once the whole warp has passed the next one's barrier, so after reading
// this one: one barrier per shuffle instead of two.
inline float __shfl_xor_sync(unsigned, float v, int mask) {
    const unsigned w = threadIdx.x / 32, l = threadIdx.x % 32;
    const unsigned p = emu_shuffle_parity[threadIdx.x] ^= 1;
    emu_warp_lanes[p][w][l] = v;
    emu_barrier_wait(emu_warp_barrier(w));
    return emu_warp_lanes[p][w][l ^ (unsigned)mask];
}
inline float __fadd_rn(float a, float b) {
    return a + b;
}
inline float __fsub_rn(float a, float b) {
    return a - b;
}
inline float __fmul_rn(float a, float b) {
    return a * b;
}
inline float __fdiv_rn(float a, float b) {
    return a / b;
}
inline float __fsqrt_rn(float a) {
    return std::sqrt(a);
}
inline unsigned __float_as_uint(float f) {
    unsigned u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}
inline int atomicAdd(int *p, int v) {
    int old = *p; // fibers never interleave inside a statement
    *p = old + v;
    return old;
}

// The runtime's side of a launch (emu_runtime.cpp).
extern "C" void emu_set_max_dynamic_smem(const void *kernel, int bytes);
// Runs the stream's earlier work, then checks the configuration; false (and
// the error for cudaGetLastError) when the launch must not run.
extern "C" bool emu_launch_begin(const void *kernel, unsigned grid, unsigned block, size_t smem,
                                 cudaStream_t s);
// A pointer argument of a launch on a stream: inside a device allocation?
extern "C" void emu_check_pointer(const void *p, cudaStream_t s);
void emu_run_grid(unsigned grid, unsigned block, size_t smem, const std::function<void()> &body);

extern "C" cudaError_t emu_kernel_image(void);
template <typename K> cudaError_t cudaFuncGetAttributes(cudaFuncAttributes *a, K) {
    a->maxThreadsPerBlock = 1024;
    return emu_kernel_image();
}

template <typename K> cudaError_t cudaFuncSetAttribute(K kernel, cudaFuncAttribute, int bytes) {
    emu_set_max_dynamic_smem((const void *)kernel, bytes);
    return cudaSuccess;
}

template <typename A> void emu_check_arg(const A &a, cudaStream_t s) {
    if constexpr (std::is_pointer_v<A>)
        if (a) emu_check_pointer((const void *)a, s);
}

// kernel<<<grid, block, smem, stream>>>(args) becomes
// emu_launch(kernel, grid, block, smem, stream, args) (to_cpu.sed).
template <typename K, typename... A>
void emu_launch(K kernel, unsigned grid, unsigned block, size_t smem, cudaStream_t s, A... args) {
    if (!emu_launch_begin((const void *)kernel, grid, block, smem, s)) return;
    (emu_check_arg(args, s), ...);
    emu_run_grid(grid, block, smem, [&] { kernel(args...); });
}
