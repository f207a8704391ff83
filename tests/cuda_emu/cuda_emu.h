// A CPU emulation of CUDA's execution model, for checking the CUDA backend's
// kernels on a machine without a GPU (tests/cuda_emu). Each block runs its
// threads as std::threads, __syncthreads is a barrier over the block and warp
// shuffles a barrier over 32 lanes; blocks run one after another, so
// __shared__ (a static here) belongs to the running block. The float
// intrinsics are plain IEEE operations: this file is compiled with
// -ffp-contract=off, as __fmul_rn/__fadd_rn are never contracted on a GPU.
// What it checks is the kernels' logic (indexing, synchronisation, the order
// of the canonical update's operations), not a GPU's arithmetic or timing.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "cuda_runtime_api.h"

struct emu_dim3 {
    unsigned x = 1, y = 1, z = 1;
};
extern thread_local emu_dim3 threadIdx, blockIdx;
extern emu_dim3 blockDim, gridDim;
extern std::barrier<> *emu_block_barrier;
extern std::vector<std::barrier<> *> emu_warp_barrier;
extern float emu_warp_lanes[32][32];
extern std::vector<char> emu_dynamic_smem;

#define __global__
#define __device__
#define __shared__ static

inline void __syncthreads() {
    emu_block_barrier->arrive_and_wait();
}
inline float __shfl_xor_sync(unsigned, float v, int mask) {
    const unsigned w = threadIdx.x / 32, l = threadIdx.x % 32;
    emu_warp_lanes[w][l] = v;
    emu_warp_barrier[w]->arrive_and_wait();
    const float r = emu_warp_lanes[w][l ^ (unsigned)mask];
    emu_warp_barrier[w]->arrive_and_wait();
    return r;
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
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
template <typename K> cudaError_t cudaFuncSetAttribute(K, cudaFuncAttribute, int) {
    return cudaSuccess;
}

// kernel<<<grid, block, smem, stream>>>(args) becomes
// emu_launch(kernel, grid, block, smem, stream, args) (see CMakeLists.txt).
template <typename K, typename... A>
void emu_launch(K kernel, unsigned grid, unsigned block, size_t smem, cudaStream_t, A... args) {
    gridDim.x = grid;
    blockDim.x = block;
    emu_dynamic_smem.assign(smem + 16, 0);
    for (unsigned b = 0; b < grid; b++) {
        std::barrier<> bar((std::ptrdiff_t)block);
        emu_block_barrier = &bar;
        std::vector<std::barrier<> *> warps;
        for (unsigned w = 0; w * 32 < block; w++)
            warps.push_back(new std::barrier<>(block - 32 * w < 32 ? block - 32 * w : 32));
        emu_warp_barrier = warps;
        std::vector<std::thread> threads;
        for (unsigned t = 0; t < block; t++)
            threads.emplace_back([=] {
                threadIdx.x = t;
                blockIdx.x = b;
                kernel(args...);
            });
        for (auto &t : threads) t.join();
        for (auto *w : warps) delete w;
    }
}
