// Row ops: embedding, RMSNorm, RoPE, SwiGLU, softmax cross-entropy.
//
// Row-wise work is one block per row. The weight gradients that sum over rows
// (embedding dtable, RMSNorm dw) are one thread per column walking the rows in
// order: no atomics, so the same bits on every run and every GPU.
#include <math.h>

#include "backends/cuda/cuda_kernels.h"

static unsigned blocks_for(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    if (b > 65535) b = 65535;
    return b < 1 ? 1u : (unsigned)b;
}

// Sum over the block (CUK_THREADS threads, a fixed tree); every thread gets
// the total. `sh` holds CUK_THREADS doubles.
static __device__ double block_sum(double v, double *sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int w = CUK_THREADS / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    double total = sh[0];
    __syncthreads();
    return total;
}

static __device__ float block_max(float v, float *sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int w = CUK_THREADS / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) {
            float o = sh[threadIdx.x + w];
            if (o > sh[threadIdx.x]) sh[threadIdx.x] = o;
        }
        __syncthreads();
    }
    float m = sh[0];
    __syncthreads();
    return m;
}

// ---- embedding ----

static __global__ void embedding_fwd_k(const int32_t *tok, const float *table, float *out,
                                       int64_t n, int64_t vocab, int64_t dim) {
    for (int64_t t = blockIdx.x; t < n; t += gridDim.x) {
        const int32_t id = tok[t];
        const bool ok = id >= 0 && id < vocab;
        for (int64_t j = threadIdx.x; j < dim; j += blockDim.x)
            out[t * dim + j] = ok ? table[(int64_t)id * dim + j] : 0.0f;
    }
}

// A token may repeat, so threads split the columns and walk the tokens in order.
static __global__ void embedding_bwd_k(const int32_t *tok, const float *dout, float *dtable,
                                       int64_t n, int64_t vocab, int64_t dim) {
    // A grid-stride loop: blocks_for caps the grid at 65535 blocks.
    for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < dim;
         j += (int64_t)gridDim.x * blockDim.x) {
        for (int64_t t = 0; t < n; t++) {
            const int32_t id = tok[t];
            if (id < 0 || id >= vocab) continue;
            dtable[(int64_t)id * dim + j] += dout[t * dim + j];
        }
    }
}

// ---- RMSNorm ----

static __global__ void rmsnorm_fwd_k(const float *x, const float *w, float *y, float *rstd,
                                     int64_t rows, int64_t cols, float eps) {
    __shared__ double sh[CUK_THREADS];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols; // may alias xr: the sum is complete before any write
        double acc = 0.0;
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) acc += (double)xr[c] * xr[c];
        const float ss = (float)block_sum(acc, sh);
        const float rs = 1.0f / sqrtf(ss / (float)cols + eps);
        if (threadIdx.x == 0) rstd[r] = rs;
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = xr[c] * rs * w[c];
    }
}

// dw[c] += sum_rows dy x rstd; runs before dx, which may overwrite dy.
static __global__ void rmsnorm_bwd_dw_k(const float *x, const float *rstd, const float *dy,
                                        float *dw, int64_t rows, int64_t cols) {
    for (int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c < cols;
         c += (int64_t)gridDim.x * blockDim.x) { // grid-stride: the grid is capped
        float acc = dw[c];
        for (int64_t r = 0; r < rows; r++) acc += dy[r * cols + c] * x[r * cols + c] * rstd[r];
        dw[c] = acc;
    }
}

// dx_c = r w_c dy_c - x_c r^3 / cols * sum_j dy_j w_j x_j, in double (the two
// terms cancel when x dominates eps), as on the CPU backend.
static __global__ void rmsnorm_bwd_dx_k(const float *x, const float *w, const float *rstd,
                                        const float *dy, float *dx, int64_t rows, int64_t cols) {
    __shared__ double sh[CUK_THREADS];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = x + r * cols, *dyr = dy + r * cols;
        float *dxr = dx + r * cols;
        double acc = 0.0;
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
            acc += (double)dyr[c] * (double)w[c] * (double)xr[c];
        const double sum = block_sum(acc, sh); // every dy of the row is read by now
        const double rs = rstd[r], k = sum * rs * rs * rs / (double)cols;
        for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
            dxr[c] = (float)(rs * w[c] * dyr[c] - xr[c] * k);
    }
}

// ---- RoPE: one thread per (row, pair of the rotated columns) ----

static __global__ void rope_k(float *x, const float *table, int64_t rows, int64_t width,
                              int64_t seq_len, int64_t head_dim, int64_t rot_cols, float sign) {
    const int64_t half = head_dim / 2, pairs = rot_cols / 2;
    const int64_t total = rows * pairs;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / pairs, p = i % pairs;
        const int64_t pos = r % seq_len, pi = p % half;
        const float c = table[(pos * half + pi) * 2], s = sign * table[(pos * half + pi) * 2 + 1];
        float *xp = x + r * width + 2 * p;
        const float x0 = xp[0], x1 = xp[1];
        xp[0] = x0 * c - x1 * s;
        xp[1] = x0 * s + x1 * c;
    }
}

// ---- SwiGLU ----

static __device__ float sigmoidf_(float g) {
    return 1.0f / (1.0f + expf(-g));
}

static __global__ void swiglu_fwd_k(const float *h, float *out, int64_t n, int64_t f) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n * f;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / f, j = i % f;
        const float g = h[r * 2 * f + j], u = h[r * 2 * f + f + j];
        out[i] = g * sigmoidf_(g) * u;
    }
}

// d silu(g)/dg = s (1 + g (1 - s)), s = sigmoid(g).
static __global__ void swiglu_bwd_k(const float *h, const float *dout, float *dh, int64_t n,
                                    int64_t f) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n * f;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / f, j = i % f;
        const float g = h[r * 2 * f + j], u = h[r * 2 * f + f + j], d = dout[i];
        const float s = sigmoidf_(g);
        dh[r * 2 * f + f + j] = d * g * s;
        dh[r * 2 * f + j] = d * u * s * (1.0f + g * (1.0f - s));
    }
}

// ---- softmax cross-entropy: one block per row ----

static __global__ void softmax_xent_k(const float *logits, const int32_t *targets, float *losses,
                                      float *dlogits, int64_t n, int64_t vocab, float grad_scale) {
    __shared__ double shd[CUK_THREADS];
    __shared__ float shf[CUK_THREADS];
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        const float *l = logits + r * vocab;
        float *d = dlogits ? dlogits + r * vocab : NULL; // may alias l
        const int32_t t = targets[r];
        if (t < 0 || t >= vocab) {
            if (threadIdx.x == 0) losses[r] = NAN;
            if (d)
                for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) d[j] = 0.0f;
            continue;
        }
        const float lt = l[t];
        float m = -INFINITY;
        for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) m = l[j] > m ? l[j] : m;
        m = block_max(m, shf);
        // A row of -inf: shift by 0 so the loss is -inf - lt, not NaN.
        const float shift = m == -INFINITY ? 0.0f : m;
        double acc = 0.0;
        for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) acc += expf(l[j] - shift);
        const float sum = (float)block_sum(acc, shd); // every read of l is done by now
        if (threadIdx.x == 0) losses[r] = shift + logf(sum) - lt;
        if (!d) continue;
        const float k = grad_scale / sum;
        for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
            float e = expf(l[j] - shift) * k;
            d[j] = j == t ? e - grad_scale : e;
        }
        __syncthreads(); // the next row's reads of shared memory wait for this one
    }
}

extern "C" cudaError_t cuk_embedding_fwd(cudaStream_t s, const int32_t *tok, const float *table,
                                         float *out, int64_t n, int64_t vocab, int64_t dim) {
    embedding_fwd_k<<<blocks_for(n, 1), 128, 0, s>>>(tok, table, out, n, vocab, dim);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_embedding_bwd(cudaStream_t s, const int32_t *tok, const float *dout,
                                         float *dtable, int64_t n, int64_t vocab, int64_t dim) {
    embedding_bwd_k<<<blocks_for(dim, 64), 64, 0, s>>>(tok, dout, dtable, n, vocab, dim);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_rmsnorm_fwd(cudaStream_t s, const float *x, const float *w, float *y,
                                       float *rstd, int64_t rows, int64_t cols, float eps) {
    rmsnorm_fwd_k<<<blocks_for(rows, 1), CUK_THREADS, 0, s>>>(x, w, y, rstd, rows, cols, eps);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_rmsnorm_bwd(cudaStream_t s, const float *x, const float *w,
                                       const float *rstd, const float *dy, float *dx, float *dw,
                                       int64_t rows, int64_t cols) {
    rmsnorm_bwd_dw_k<<<blocks_for(cols, 64), 64, 0, s>>>(x, rstd, dy, dw, rows, cols);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    rmsnorm_bwd_dx_k<<<blocks_for(rows, 1), CUK_THREADS, 0, s>>>(x, w, rstd, dy, dx, rows, cols);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_rope(cudaStream_t s, float *x, const float *table, int64_t rows,
                                int64_t width, int64_t seq_len, int64_t head_dim, int64_t rot_cols,
                                int inverse) {
    rope_k<<<blocks_for(rows * (rot_cols / 2), CUK_THREADS), CUK_THREADS, 0, s>>>(
        x, table, rows, width, seq_len, head_dim, rot_cols, inverse ? -1.0f : 1.0f);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_swiglu_fwd(cudaStream_t s, const float *h, float *out, int64_t n,
                                      int64_t f) {
    swiglu_fwd_k<<<blocks_for(n * f, CUK_THREADS), CUK_THREADS, 0, s>>>(h, out, n, f);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_swiglu_bwd(cudaStream_t s, const float *h, const float *dout, float *dh,
                                      int64_t n, int64_t f) {
    swiglu_bwd_k<<<blocks_for(n * f, CUK_THREADS), CUK_THREADS, 0, s>>>(h, dout, dh, n, f);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_softmax_xent(cudaStream_t s, const float *logits, const int32_t *targets,
                                        float *losses, float *dlogits, int64_t n, int64_t vocab,
                                        float grad_scale) {
    softmax_xent_k<<<blocks_for(n, 1), CUK_THREADS, 0, s>>>(logits, targets, losses, dlogits, n,
                                                            vocab, grad_scale);
    return cudaGetLastError();
}
