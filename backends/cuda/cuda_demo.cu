// The DeMo ops on the device, one block per tile: DCT encode, per-tile top-k,
// sparse decode-and-subtract, and the canonical aggregate-decode-apply.
//
// The canonical update (apply_k) is written with __fadd_rn / __fmul_rn /
// __fsub_rn only: nvcc never contracts those into fused multiply-adds, and
// denormals are kept (nvcc's default -ftz=false), so it follows dt_demo_apply
// (ops.h, DESIGN.md section 4) operation by operation in the same order as the
// host reference runtime/demo_apply_host.c and can match it bit for bit.
#include "backends/cuda/cuda_kernels.h"

// --use_fast_math flushes subnormals even in the _rn intrinsics.
#ifdef __USE_FAST_MATH__
#error "the canonical update must keep subnormals: build without --use_fast_math"
#endif

#define TILE_THREADS 256

// Element (0, 0) of tile t inside the rows x cols matrix.
static __device__ int64_t tile_origin(const cuk_tiles &p, int64_t t) {
    return (t / p.tiles_per_row) * p.tile_rows * p.cols + (t % p.tiles_per_row) * p.tile_cols;
}

// X = F1^T x F2 per tile: first Y = x F2 into shared memory, then F1^T Y.
static __global__ void encode_k(cuk_tiles p, const float *x, const float *f1, const float *f2,
                                float *coeffs) {
    extern __shared__ float y[];
    const int64_t n1 = p.tile_rows, n2 = p.tile_cols, S = p.tile_size;
    const int64_t t = blockIdx.x;
    const float *xt = x + tile_origin(p, t);
    for (int64_t o = threadIdx.x; o < S; o += blockDim.x) {
        const int64_t s = o / n2, b = o % n2;
        float acc = 0.0f;
        for (int64_t m = 0; m < n2; m++) acc += xt[s * p.cols + m] * f2[m * n2 + b];
        y[o] = acc;
    }
    __syncthreads();
    float *ct = coeffs + t * S;
    for (int64_t o = threadIdx.x; o < S; o += blockDim.x) {
        const int64_t a = o / n2, b = o % n2;
        float acc = 0.0f;
        for (int64_t s = 0; s < n1; s++) acc += f1[s * n1 + a] * y[s * n2 + b];
        ct[o] = acc;
    }
}

// |c| as an integer key: ordering of non-negative floats is that of their bits.
static __device__ unsigned abs_key(const float *c, int64_t i) {
    return __float_as_uint(c[i]) & 0x7fffffffu;
}

// Exclusive prefix over the block's per-thread counts (thread order is index
// order: each thread owns one contiguous range of the tile).
static __device__ int exclusive_prefix(int mine, int *sh) {
    sh[threadIdx.x] = mine;
    __syncthreads();
    if (threadIdx.x == 0) {
        int run = 0;
        for (int i = 0; i < TILE_THREADS; i++) {
            int v = sh[i];
            sh[i] = run;
            run += v;
        }
    }
    __syncthreads();
    int r = sh[threadIdx.x];
    __syncthreads();
    return r;
}

// Per tile: K = the k-th largest key, found bit by bit (the largest K with at
// least k keys >= K); keys > K are kept, then keys == K in index order until k.
static __global__ void topk_k(const float *coeffs, int64_t S, int64_t k, int32_t *idx,
                              float *vals) {
    __shared__ int count;
    __shared__ int sh[TILE_THREADS];
    const float *c = coeffs + (int64_t)blockIdx.x * S;
    const int64_t per = (S + TILE_THREADS - 1) / TILE_THREADS;
    const int64_t lo = threadIdx.x * per < S ? threadIdx.x * per : S;
    const int64_t hi = lo + per < S ? lo + per : S;
    unsigned K = 0;
    for (int bit = 31; bit >= 0; bit--) {
        const unsigned cand = K | (1u << bit);
        if (threadIdx.x == 0) count = 0;
        __syncthreads();
        int mine = 0;
        for (int64_t i = lo; i < hi; i++) mine += abs_key(c, i) >= cand;
        if (mine) atomicAdd(&count, mine);
        __syncthreads();
        if (count >= k) K = cand;
        __syncthreads();
    }
    int gt = 0, eq = 0;
    for (int64_t i = lo; i < hi; i++) {
        const unsigned key = abs_key(c, i);
        gt += key > K;
        eq += key == K;
    }
    const int eq_before = exclusive_prefix(eq, sh);
    if (threadIdx.x == 0) count = 0;
    __syncthreads();
    if (gt) atomicAdd(&count, gt);
    __syncthreads();
    const int need = (int)k - count; // ties at K that still fit, lowest index first
    int sel = 0, e = eq_before;
    for (int64_t i = lo; i < hi; i++) {
        const unsigned key = abs_key(c, i);
        if (key > K || (key == K && e++ < need)) sel++;
    }
    int pos = exclusive_prefix(sel, sh);
    e = eq_before;
    int32_t *it = idx + (int64_t)blockIdx.x * k;
    float *vt = vals + (int64_t)blockIdx.x * k;
    for (int64_t i = lo; i < hi; i++) {
        const unsigned key = abs_key(c, i);
        if (key > K || (key == K && e++ < need)) {
            it[pos] = (int32_t)i;
            vt[pos] = c[i];
            pos++;
        }
    }
}

// D -= F1 A F2^T per tile, A sparse: x[s][m] = sum_e F1[s][a_e] v_e F2[m][b_e].
static __global__ void decode_sub_k(cuk_tiles p, const int32_t *idx, const float *vals, int64_t k,
                                    const float *f1, const float *f2, float *d) {
    const int64_t n1 = p.tile_rows, n2 = p.tile_cols, S = p.tile_size;
    const int64_t t = blockIdx.x;
    const int32_t *it = idx + t * k;
    const float *vt = vals + t * k;
    float *dt = d + tile_origin(p, t);
    for (int64_t o = threadIdx.x; o < S; o += blockDim.x) {
        const int64_t s = o / n2, m = o % n2;
        float acc = 0.0f;
        for (int64_t e = 0; e < k; e++) {
            const int32_t i = it[e];
            if (i < 0 || i >= S) continue;
            acc += f1[s * n1 + i / n2] * vt[e] * f2[m * n2 + i % n2];
        }
        dt[s * p.cols + m] -= acc;
    }
}

// The canonical update; shared memory: acc[S], cnt[S], y[S].
static __global__ void apply_k(cuk_tiles p, const int32_t *idx, const float *vals, int64_t k,
                               int64_t n_contrib, const float *recip, const float *f1,
                               const float *f2, float *w, float lr, float decay, int sign) {
    extern __shared__ float smem[];
    const int64_t n1 = p.tile_rows, n2 = p.tile_cols, S = p.tile_size;
    const int64_t t = blockIdx.x;
    float *acc = smem, *y = smem + 2 * S;
    int *cnt = (int *)(smem + S);
    for (int64_t i = threadIdx.x; i < S; i += blockDim.x) {
        acc[i] = 0.0f;
        cnt[i] = 0;
    }
    __syncthreads();
    // Contributions in order; within one, indices are distinct, so its
    // entries may go in parallel without changing any sum's order.
    for (int64_t c = 0; c < n_contrib; c++) {
        const int32_t *ci = idx + (c * p.n_tiles + t) * k;
        const float *cv = vals + (c * p.n_tiles + t) * k;
        for (int64_t e = threadIdx.x; e < k; e += blockDim.x) {
            const int32_t i = ci[e];
            if (i < 0 || i >= S) continue;
            acc[i] = __fadd_rn(acc[i], cv[e]);
            cnt[i] = cnt[i] + 1;
        }
        __syncthreads();
    }
    for (int64_t i = threadIdx.x; i < S; i += blockDim.x) acc[i] = __fmul_rn(acc[i], recip[cnt[i]]);
    __syncthreads();
    // Y[h][b] = sum_a F1[h][a] * A[a][b], from 0, ascending a.
    for (int64_t o = threadIdx.x; o < S; o += blockDim.x) {
        const int64_t h = o / n2, b = o % n2;
        float s = 0.0f;
        for (int64_t a = 0; a < n1; a++)
            s = __fadd_rn(s, __fmul_rn(f1[h * n1 + a], acc[a * n2 + b]));
        y[o] = s;
    }
    __syncthreads();
    // X[h][v] = sum_b Y[h][b] * F2[v][b], ascending b; W = W*decay - lr*s.
    float *wt = w + tile_origin(p, t);
    for (int64_t o = threadIdx.x; o < S; o += blockDim.x) {
        const int64_t h = o / n2, v = o % n2;
        float x = 0.0f;
        for (int64_t b = 0; b < n2; b++) x = __fadd_rn(x, __fmul_rn(y[h * n2 + b], f2[v * n2 + b]));
        float s = x;
        if (sign) s = x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
        float *wp = wt + h * p.cols + v;
        *wp = __fsub_rn(__fmul_rn(*wp, decay), __fmul_rn(lr, s));
    }
}

// Dynamic shared memory above 48 KiB must be opted into per kernel.
template <typename K> static cudaError_t allow_smem(K kernel, size_t bytes) {
    if (bytes <= 48 * 1024) return cudaSuccess;
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
}

extern "C" size_t cuk_demo_encode_smem(const cuk_tiles *t) {
    return (size_t)t->tile_size * sizeof(float);
}

extern "C" size_t cuk_demo_apply_smem(const cuk_tiles *t) {
    return (size_t)t->tile_size * 3 * sizeof(float);
}

extern "C" cudaError_t cuk_demo_encode(cudaStream_t s, const cuk_tiles *t, const float *x,
                                       const float *f1, const float *f2, float *coeffs) {
    if (t->n_tiles == 0) return cudaSuccess; // a grid of 0 blocks is a launch error
    const size_t smem = cuk_demo_encode_smem(t);
    cudaError_t e = allow_smem(encode_k, smem);
    if (e != cudaSuccess) return e;
    encode_k<<<(unsigned)t->n_tiles, TILE_THREADS, smem, s>>>(*t, x, f1, f2, coeffs);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_demo_topk(cudaStream_t s, const float *coeffs, int64_t n_tiles,
                                     int64_t tile_size, int64_t k, int32_t *idx, float *vals) {
    if (n_tiles == 0) return cudaSuccess;
    topk_k<<<(unsigned)n_tiles, TILE_THREADS, 0, s>>>(coeffs, tile_size, k, idx, vals);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_demo_decode_sub(cudaStream_t s, const cuk_tiles *t, const int32_t *idx,
                                           const float *vals, int64_t k, const float *f1,
                                           const float *f2, float *d) {
    if (t->n_tiles == 0) return cudaSuccess;
    decode_sub_k<<<(unsigned)t->n_tiles, TILE_THREADS, 0, s>>>(*t, idx, vals, k, f1, f2, d);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_demo_apply(cudaStream_t s, const cuk_tiles *t, const int32_t *idx,
                                      const float *vals, int64_t k, int64_t n_contrib,
                                      const float *recip, const float *f1, const float *f2,
                                      float *w, float lr, float decay, int sign) {
    if (t->n_tiles == 0) return cudaSuccess;
    const size_t smem = cuk_demo_apply_smem(t);
    cudaError_t e = allow_smem(apply_k, smem);
    if (e != cudaSuccess) return e;
    apply_k<<<(unsigned)t->n_tiles, TILE_THREADS, smem, s>>>(*t, idx, vals, k, n_contrib, recip, f1,
                                                             f2, w, lr, decay, sign);
    return cudaGetLastError();
}
