// Causal self-attention, forward and backward, one warp per query (or key) row.
//
// Lane j holds dimensions j, j+32, ..., j+224 of the head (head_dim <= 256,
// checked by the caller); dot products are warp sums with a fixed butterfly,
// so every lane holds the same score. The forward keeps a running max and sum
// (online softmax) and stores lse = max + log(sum) for the backward, which
// recomputes P = exp(scale q.k - lse) instead of storing it:
//   dV_u = sum_{t>=u} P_tu dO_t      dP_tu = dO_t . v_u
//   dS_tu = P_tu (dP_tu - delta_t) scale,  delta_t = dO_t . O_t
//   dQ_t = sum_{u<=t} dS_tu k_u      dK_u = sum_{t>=u} dS_tu q_t
// Each output row is written by one warp: no atomics, same bits every run.
#include <math.h>

#include "backends/cuda/cuda_kernels.h"

#define WARPS    4
#define PER_LANE (CUK_ATTN_HEAD_DIM_MAX / 32)

struct attn_geom {
    int64_t T, H, hd, D;
    float scale;
};

static __device__ float warp_sum(float v) {
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Row pointer of q (part 0), k (1) or v (2) for (b, t, h) in qkv [B, T, 3D].
static __device__ const float *qkv_row(const float *qkv, const attn_geom &g, int64_t b, int64_t t,
                                       int64_t h, int part) {
    return qkv + ((b * g.T + t) * 3 * g.D) + part * g.D + h * g.hd;
}

static __device__ void load_row(const float *p, int64_t hd, float *r) {
    const int lane = threadIdx.x % 32;
    for (int i = 0; i < PER_LANE; i++) {
        int64_t d = lane + 32 * i;
        r[i] = d < hd ? p[d] : 0.0f;
    }
}

static __device__ float dot_row(const float *r, const float *p, int64_t hd) {
    const int lane = threadIdx.x % 32;
    float acc = 0.0f;
    for (int i = 0; i < PER_LANE; i++) {
        int64_t d = lane + 32 * i;
        if (d < hd) acc += r[i] * p[d];
    }
    return warp_sum(acc);
}

static __device__ void store_row(float *p, int64_t hd, const float *r) {
    const int lane = threadIdx.x % 32;
    for (int i = 0; i < PER_LANE; i++) {
        int64_t d = lane + 32 * i;
        if (d < hd) p[d] = r[i];
    }
}

// Which (b, h, t) this warp owns; false past the end.
static __device__ bool warp_row(const attn_geom &g, int64_t B, int64_t *b, int64_t *h, int64_t *t) {
    const int64_t row = (int64_t)blockIdx.x * WARPS + threadIdx.x / 32;
    if (row >= B * g.H * g.T) return false;
    *t = row % g.T;
    *h = (row / g.T) % g.H;
    *b = row / (g.T * g.H);
    return true;
}

static __global__ void attn_fwd_k(const float *qkv, float *out, float *lse, int64_t B,
                                  attn_geom g) {
    int64_t b, h, t;
    if (!warp_row(g, B, &b, &h, &t)) return;
    float q[PER_LANE], acc[PER_LANE];
    load_row(qkv_row(qkv, g, b, t, h, 0), g.hd, q);
    for (int i = 0; i < PER_LANE; i++) acc[i] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    for (int64_t u = 0; u <= t; u++) {
        const float s = g.scale * dot_row(q, qkv_row(qkv, g, b, u, h, 1), g.hd);
        const float mn = s > m ? s : m;
        const float corr = expf(m - mn), p = expf(s - mn);
        l = l * corr + p;
        float v[PER_LANE];
        load_row(qkv_row(qkv, g, b, u, h, 2), g.hd, v);
        for (int i = 0; i < PER_LANE; i++) acc[i] = acc[i] * corr + p * v[i];
        m = mn;
    }
    for (int i = 0; i < PER_LANE; i++) acc[i] /= l;
    store_row(out + (b * g.T + t) * g.D + h * g.hd, g.hd, acc);
    if (threadIdx.x % 32 == 0) lse[(b * g.H + h) * g.T + t] = m + logf(l);
}

static __global__ void attn_delta_k(const float *out, const float *dout, float *delta, int64_t B,
                                    attn_geom g) {
    int64_t b, h, t;
    if (!warp_row(g, B, &b, &h, &t)) return;
    const int64_t off = (b * g.T + t) * g.D + h * g.hd;
    float o[PER_LANE];
    load_row(out + off, g.hd, o);
    const float d = dot_row(o, dout + off, g.hd);
    if (threadIdx.x % 32 == 0) delta[(b * g.H + h) * g.T + t] = d;
}

static __global__ void attn_dq_k(const float *qkv, const float *dout, const float *lse,
                                 const float *delta, float *dqkv, int64_t B, attn_geom g) {
    int64_t b, h, t;
    if (!warp_row(g, B, &b, &h, &t)) return;
    float q[PER_LANE], dob[PER_LANE], dq[PER_LANE];
    load_row(qkv_row(qkv, g, b, t, h, 0), g.hd, q);
    load_row(dout + (b * g.T + t) * g.D + h * g.hd, g.hd, dob);
    for (int i = 0; i < PER_LANE; i++) dq[i] = 0.0f;
    const int64_t st = (b * g.H + h) * g.T + t;
    const float lt = lse[st], dt = delta[st];
    for (int64_t u = 0; u <= t; u++) {
        const float *k = qkv_row(qkv, g, b, u, h, 1);
        const float p = expf(g.scale * dot_row(q, k, g.hd) - lt);
        const float dp = dot_row(dob, qkv_row(qkv, g, b, u, h, 2), g.hd);
        const float ds = p * (dp - dt) * g.scale;
        float kr[PER_LANE];
        load_row(k, g.hd, kr);
        for (int i = 0; i < PER_LANE; i++) dq[i] += ds * kr[i];
    }
    store_row(dqkv + ((b * g.T + t) * 3 * g.D) + h * g.hd, g.hd, dq);
}

// One warp per key row u (warp_row's t is u here).
static __global__ void attn_dkdv_k(const float *qkv, const float *dout, const float *lse,
                                   const float *delta, float *dqkv, int64_t B, attn_geom g) {
    int64_t b, h, u;
    if (!warp_row(g, B, &b, &h, &u)) return;
    float k[PER_LANE], v[PER_LANE], dk[PER_LANE], dv[PER_LANE];
    load_row(qkv_row(qkv, g, b, u, h, 1), g.hd, k);
    load_row(qkv_row(qkv, g, b, u, h, 2), g.hd, v);
    for (int i = 0; i < PER_LANE; i++) dk[i] = dv[i] = 0.0f;
    for (int64_t t = u; t < g.T; t++) {
        const int64_t st = (b * g.H + h) * g.T + t;
        const float *q = qkv_row(qkv, g, b, t, h, 0);
        const float *dor = dout + (b * g.T + t) * g.D + h * g.hd;
        const float p = expf(g.scale * dot_row(k, q, g.hd) - lse[st]);
        const float dp = dot_row(v, dor, g.hd);
        const float ds = p * (dp - delta[st]) * g.scale;
        float qr[PER_LANE], dr[PER_LANE];
        load_row(q, g.hd, qr);
        load_row(dor, g.hd, dr);
        for (int i = 0; i < PER_LANE; i++) {
            dv[i] += p * dr[i];
            dk[i] += ds * qr[i];
        }
    }
    float *row = dqkv + ((b * g.T + u) * 3 * g.D) + h * g.hd;
    store_row(row + g.D, g.hd, dk);
    store_row(row + 2 * g.D, g.hd, dv);
}

static unsigned warp_blocks(int64_t rows) {
    return (unsigned)((rows + WARPS - 1) / WARPS);
}

static attn_geom geom(int64_t T, int64_t H, int64_t hd, float scale) {
    attn_geom g;
    g.T = T;
    g.H = H;
    g.hd = hd;
    g.D = H * hd;
    g.scale = scale;
    return g;
}

extern "C" cudaError_t cuk_attention_fwd(cudaStream_t s, const float *qkv, float *out, float *lse,
                                         int64_t batch, int64_t seq_len, int64_t n_heads,
                                         int64_t head_dim, float scale) {
    const attn_geom g = geom(seq_len, n_heads, head_dim, scale);
    const int64_t rows = batch * n_heads * seq_len;
    if (rows == 0) return cudaSuccess;
    attn_fwd_k<<<warp_blocks(rows), WARPS * 32, 0, s>>>(qkv, out, lse, batch, g);
    return cudaGetLastError();
}

extern "C" cudaError_t cuk_attention_bwd(cudaStream_t s, const float *qkv, const float *out,
                                         const float *dout, const float *lse, float *dqkv,
                                         float *delta, int64_t batch, int64_t seq_len,
                                         int64_t n_heads, int64_t head_dim, float scale) {
    const attn_geom g = geom(seq_len, n_heads, head_dim, scale);
    const int64_t rows = batch * n_heads * seq_len;
    if (rows == 0) return cudaSuccess;
    attn_delta_k<<<warp_blocks(rows), WARPS * 32, 0, s>>>(out, dout, delta, batch, g);
    attn_dq_k<<<warp_blocks(rows), WARPS * 32, 0, s>>>(qkv, dout, lse, delta, dqkv, batch, g);
    attn_dkdv_k<<<warp_blocks(rows), WARPS * 32, 0, s>>>(qkv, dout, lse, delta, dqkv, batch, g);
    return cudaGetLastError();
}
