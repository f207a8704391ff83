// Elementwise ops, AdamW, DeMo momentum and the two reductions.
//
// AdamW and momentum use __fmul_rn / __fadd_rn so that nvcc does not contract
// them into fused multiply-adds: the CPU backend rounds every operation on its
// own, and these then give the same bits (division and sqrt are IEEE-rounded
// by nvcc's defaults, -prec-div=true -prec-sqrt=true).
#include "backends/cuda/cuda_kernels.h"

// Grid-stride loops: at most this many blocks, whatever n.
static unsigned grid_for(int64_t n) {
    int64_t b = (n + CUK_THREADS - 1) / CUK_THREADS;
    if (b > 8192) b = 8192;
    return b < 1 ? 1u : (unsigned)b;
}

#define FOR_EACH(i, n)                                                                             \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                      \
         i += (int64_t)gridDim.x * blockDim.x)

static __global__ void add_k(const float *a, const float *b, float *y, int64_t n) {
    FOR_EACH(i, n) y[i] = a[i] + b[i];
}

static __global__ void scale_k(const float *x, float alpha, float *y, int64_t n) {
    FOR_EACH(i, n) y[i] = alpha * x[i];
}

static __global__ void fill_k(float *y, float value, int64_t n) {
    FOR_EACH(i, n) y[i] = value;
}

struct adamw_args {
    float lr, b1, b2, one_b1, one_b2, decay, eps, bias1, bias2, gs;
};

// The order of ops.h and of the CPU backend, one rounding per operation.
static __global__ void adamw_k(float *p, const float *g, float *m, float *v, int64_t n,
                               adamw_args a) {
    FOR_EACH(i, n) {
        float gi = __fmul_rn(a.gs, g[i]);
        float mi = __fadd_rn(__fmul_rn(a.b1, m[i]), __fmul_rn(a.one_b1, gi));
        float vi = __fadd_rn(__fmul_rn(a.b2, v[i]), __fmul_rn(a.one_b2, __fmul_rn(gi, gi)));
        m[i] = mi;
        v[i] = vi;
        float step = __fdiv_rn(__fmul_rn(a.lr, __fdiv_rn(mi, a.bias1)),
                               __fadd_rn(__fsqrt_rn(__fdiv_rn(vi, a.bias2)), a.eps));
        p[i] = __fsub_rn(__fmul_rn(p[i], a.decay), step);
    }
}

static __global__ void momentum_k(float *d, const float *g, int64_t n, float beta, float lr) {
    FOR_EACH(i, n) d[i] = __fadd_rn(__fmul_rn(beta, d[i]), __fmul_rn(lr, g[i]));
}

// Block c of CUK_REDUCE_BLOCKS sums the squares of chunk c (in double) with a
// fixed tree; the final kernel adds the chunks in order on one thread.
static __global__ void sum_sq_partial_k(const float *x, int64_t n, double *part) {
    __shared__ double sh[CUK_THREADS];
    const int64_t c = blockIdx.x;
    const int64_t lo = n * c / CUK_REDUCE_BLOCKS, hi = n * (c + 1) / CUK_REDUCE_BLOCKS;
    double acc = 0.0;
    for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) acc += (double)x[i] * (double)x[i];
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int w = CUK_THREADS / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) part[c] = sh[0];
}

static __global__ void sum_final_k(const double *part, float *out) {
    double total = 0.0;
    for (int c = 0; c < CUK_REDUCE_BLOCKS; c++) total += part[c];
    out[0] = (float)total;
}

static __global__ void finite_partial_k(const float *x, int64_t n, double *part) {
    __shared__ int bad;
    if (threadIdx.x == 0) bad = 0;
    __syncthreads();
    const int64_t c = blockIdx.x;
    const int64_t lo = n * c / CUK_REDUCE_BLOCKS, hi = n * (c + 1) / CUK_REDUCE_BLOCKS;
    const unsigned *bits = (const unsigned *)x;
    int mine = 0;
    // Inf or NaN: every exponent bit set.
    for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x)
        mine |= (bits[i] & 0x7f800000u) == 0x7f800000u;
    if (mine) bad = 1;
    __syncthreads();
    if (threadIdx.x == 0) part[c] = bad;
}

static __global__ void finite_final_k(const double *part, float *out) {
    int bad = 0;
    for (int c = 0; c < CUK_REDUCE_BLOCKS; c++) bad |= part[c] != 0.0;
    out[0] = bad ? 0.0f : 1.0f;
}

extern "C" cudaError_t cuk_kernel_image(void) {
    struct cudaFuncAttributes a;
    return cudaFuncGetAttributes(&a, fill_k);
}

extern "C" cudaError_t cuk_add(cudaStream_t s, const float *a, const float *b, float *y,
                               int64_t n) {
    add_k<<<grid_for(n), CUK_THREADS, 0, s>>>(a, b, y, n);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_scale(cudaStream_t s, const float *x, float alpha, float *y, int64_t n) {
    scale_k<<<grid_for(n), CUK_THREADS, 0, s>>>(x, alpha, y, n);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_fill(cudaStream_t s, float *y, float value, int64_t n) {
    fill_k<<<grid_for(n), CUK_THREADS, 0, s>>>(y, value, n);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_adamw(cudaStream_t s, float *p, const float *g, float *m, float *v,
                                 int64_t n, float lr, float beta1, float beta2, float eps,
                                 float weight_decay, float bias1, float bias2, float grad_scale) {
    adamw_args a;
    a.lr = lr;
    a.b1 = beta1;
    a.b2 = beta2;
    a.one_b1 = 1.0f - beta1; // host arithmetic, as on the CPU backend
    a.one_b2 = 1.0f - beta2;
    a.decay = 1.0f - lr * weight_decay;
    a.eps = eps;
    a.bias1 = bias1;
    a.bias2 = bias2;
    a.gs = grad_scale;
    adamw_k<<<grid_for(n), CUK_THREADS, 0, s>>>(p, g, m, v, n, a);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_demo_momentum(cudaStream_t s, float *d, const float *g, int64_t n,
                                         float beta, float lr) {
    momentum_k<<<grid_for(n), CUK_THREADS, 0, s>>>(d, g, n, beta, lr);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_sum_squares(cudaStream_t s, const float *x, int64_t n, double *scratch,
                                       float *out) {
    sum_sq_partial_k<<<CUK_REDUCE_BLOCKS, CUK_THREADS, 0, s>>>(x, n, scratch);
    sum_final_k<<<1, 1, 0, s>>>(scratch, out);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_check_finite(cudaStream_t s, const float *x, int64_t n, double *scratch,
                                        float *out) {
    finite_partial_k<<<CUK_REDUCE_BLOCKS, CUK_THREADS, 0, s>>>(x, n, scratch);
    finite_final_k<<<1, 1, 0, s>>>(scratch, out);
    return cudaGetLastError();
}
