// Fused causal attention for GPUs (the kernels=gpu paths; attention.cl is
// the CPU one): the same results and contract as attention.cl, laid out so
// that a GPU keeps its working set in registers and local memory.
//
// attention.cl gives each work-item a query (or key) and its rows, up to 4
// x HEAD_DIM_MAX floats in private arrays. Indexed by a loop over the
// run-time head size, those live in per-thread memory in VRAM on a GPU:
// 0.5 to 2 KiB per work-item and kernel with clang's AMDGPU backend
// (gfx1030) and with ptxas (sm_86); see tests/ocl_gpu_registers.sh.
//
// Here a work-group owns BR rows with TPR work-items each; the other side's
// rows stream through local memory BC at a time. Per block, each work-item
// first forms the scores of BC / TPR (row, column) pairs of its row into
// local memory, then adds the block into its head columns l, l + TPR, ...
// (l = its index within the row), so it keeps HEAD_DIM_MAX / TPR
// accumulators. Local rows are hd + 1 floats apart, so the work-items of a
// wave reading element d of different rows hit different banks. Sizes fit
// OpenCL's minimum 32 KiB of local memory at hd = HEAD_DIM_MAX.
//
// Every sum keeps one order (scores over d; outputs over the other side's
// rows ascending), so the results are deterministic. dp_tu and delta_t are
// formed alike, with fma, so where out_t equals the one visible v_u their
// difference is exactly 0.

#define TPR 8
#define BR 16 // rows per work-group
#define BC 8  // rows per streamed block
#define WG_TILED (BR * TPR)
#define NJ (BC / TPR)           // score columns per work-item
#define ND (HEAD_DIM_MAX / TPR) // head columns per work-item, at most

#define QKV_AT(b, t) (((long)(b) * T + (t)) * 3 * D)

// The first hd columns of rows [r0, r0 + n) of a matrix with rows `stride`
// apart, times `scale`, into dst with rows hd + 1 apart; rows past T read
// as 0.
static inline void load_tile(__local float *dst, __global const float *src, long stride, int r0,
                             int n, int T, int hd, float scale) {
    for (int e = get_local_id(0); e < n * hd; e += WG_TILED) {
        int i = e / hd, d = e % hd;
        dst[i * (hd + 1) + d] = r0 + i < T ? src[(long)(r0 + i) * stride + d] * scale : 0.0f;
    }
}

// s[c] = a . A_j and dp[c] = b . B_j for this work-item's columns j = l + TPR c
// of the block, each summed over d ascending, dp with fma (as delta is).
static inline void pair_dots(__local const float *a, __local const float *b,
                             __local const float *A, __local const float *B, int l, int hd,
                             float *s, float *dp) {
    const int hs = hd + 1;
#pragma unroll
    for (int c = 0; c < NJ; c++) s[c] = dp[c] = 0.0f;
    for (int d = 0; d < hd; d++) {
#pragma unroll
        for (int c = 0; c < NJ; c++) {
            s[c] += a[d] * A[(l + TPR * c) * hs + d];
            dp[c] = fma(b[d], B[(l + TPR * c) * hs + d], dp[c]);
        }
    }
}

__kernel __attribute__((reqd_work_group_size(WG_TILED, 1, 1))) void
attention_fwd_tiled(__global const float *qkv, ulong qkv_off, __global float *out, ulong out_off,
                    __global float *lse, ulong lse_off, int T, int H, int hd, float scale,
                    __local float *Qs, __local float *Ks, __local float *Vs, __local float *Ss) {
    const int tid = get_local_id(0), r = tid / TPR, l = tid % TPR, hs = hd + 1;
    const int q0 = get_group_id(0) * BR, t = q0 + r, bh = get_global_id(1);
    const int b = bh / H, h = bh % H, D = H * hd;
    __global const float *base = qkv + qkv_off + QKV_AT(b, 0) + h * hd;
    load_tile(Qs, base, 3 * D, q0, BR, T, hd, scale);
    float acc[ND];
#pragma unroll
    for (int i = 0; i < ND; i++) acc[i] = 0.0f;
    float m = -3.0e38f, sum = 0.0f;
    const int kv_end = min(T, q0 + BR);
    for (int k0 = 0; k0 < kv_end; k0 += BC) {
        load_tile(Ks, base + D, 3 * D, k0, BC, T, hd, 1.0f);
        load_tile(Vs, base + 2 * D, 3 * D, k0, BC, T, hd, 1.0f);
        barrier(CLK_LOCAL_MEM_FENCE);
        float s[NJ];
#pragma unroll
        for (int c = 0; c < NJ; c++) s[c] = 0.0f;
        for (int d = 0; d < hd; d++) {
            const float q = Qs[r * hs + d];
#pragma unroll
            for (int c = 0; c < NJ; c++) s[c] += q * Ks[(l + TPR * c) * hs + d];
        }
#pragma unroll
        for (int c = 0; c < NJ; c++) Ss[r * BC + l + TPR * c] = s[c];
        barrier(CLK_LOCAL_MEM_FENCE);
        if (t < T && k0 <= t) {
            const int n = min(BC, t - k0 + 1);
            float bm = m;
            for (int j = 0; j < n; j++) bm = max(bm, Ss[r * BC + j]);
            const float corr = exp(m - bm);
            sum *= corr;
#pragma unroll
            for (int i = 0; i < ND; i++) acc[i] *= corr;
            for (int j = 0; j < n; j++) {
                const float p = exp(Ss[r * BC + j] - bm);
                sum += p;
#pragma unroll
                for (int i = 0; i < ND; i++)
                    if (l + TPR * i < hd) acc[i] += p * Vs[j * hs + l + TPR * i];
            }
            m = bm;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (t >= T) return;
    __global float *o = out + out_off + ((long)b * T + t) * D + h * hd;
    const float inv = 1.0f / sum;
#pragma unroll
    for (int i = 0; i < ND; i++)
        if (l + TPR * i < hd) o[l + TPR * i] = acc[i] * inv;
    if (l == 0) lse[lse_off + (long)bh * T + t] = m + log(sum);
}

// dq_t = scale sum_{u<=t} ds_tu k_u, and delta_t = dout_t . out_t into
// scratch for the key side.
__kernel __attribute__((reqd_work_group_size(WG_TILED, 1, 1))) void
attention_bwd_dq_tiled(__global const float *qkv, ulong qkv_off, __global const float *out,
                       ulong out_off, __global const float *dout, ulong dout_off,
                       __global const float *lse, ulong lse_off, __global float *delta,
                       ulong delta_off, __global float *dqkv, ulong dqkv_off, int T, int H, int hd,
                       float scale, __local float *Qs, __local float *Gs, __local float *Ks,
                       __local float *Vs, __local float *Ss, __local float *LD) {
    const int tid = get_local_id(0), r = tid / TPR, l = tid % TPR, hs = hd + 1;
    const int q0 = get_group_id(0) * BR, t = q0 + r, bh = get_global_id(1);
    const int b = bh / H, h = bh % H, D = H * hd;
    __global const float *base = qkv + qkv_off + QKV_AT(b, 0) + h * hd;
    __global const float *g0 = dout + dout_off + (long)b * T * D + h * hd;
    load_tile(Qs, base, 3 * D, q0, BR, T, hd, 1.0f);
    load_tile(Gs, g0, D, q0, BR, T, hd, 1.0f);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (l == 0 && t < T) {
        __global const float *o = out + out_off + ((long)b * T + t) * D + h * hd;
        float dt = 0.0f;
        for (int d = 0; d < hd; d++) dt = fma(Gs[r * hs + d], o[d], dt);
        LD[r] = lse[lse_off + (long)bh * T + t];
        LD[BR + r] = dt;
        delta[delta_off + (long)bh * T + t] = dt;
    }
    float dq[ND];
#pragma unroll
    for (int i = 0; i < ND; i++) dq[i] = 0.0f;
    const int kv_end = min(T, q0 + BR);
    for (int k0 = 0; k0 < kv_end; k0 += BC) {
        load_tile(Ks, base + D, 3 * D, k0, BC, T, hd, 1.0f);
        load_tile(Vs, base + 2 * D, 3 * D, k0, BC, T, hd, 1.0f);
        barrier(CLK_LOCAL_MEM_FENCE);
        float s[NJ], dp[NJ];
        pair_dots(Qs + r * hs, Gs + r * hs, Ks, Vs, l, hd, s, dp);
#pragma unroll
        for (int c = 0; c < NJ; c++) {
            const int u = k0 + l + TPR * c;
            float ds = 0.0f;
            if (t < T && u <= t) ds = exp(s[c] * scale - LD[r]) * (dp[c] - LD[BR + r]);
            Ss[r * BC + l + TPR * c] = ds;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (t < T && k0 <= t) {
            const int n = min(BC, t - k0 + 1);
            for (int j = 0; j < n; j++) {
                const float ds = Ss[r * BC + j];
#pragma unroll
                for (int i = 0; i < ND; i++)
                    if (l + TPR * i < hd) dq[i] += ds * Ks[j * hs + l + TPR * i];
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (t >= T) return;
    __global float *o = dqkv + dqkv_off + QKV_AT(b, t) + h * hd;
#pragma unroll
    for (int i = 0; i < ND; i++)
        if (l + TPR * i < hd) o[l + TPR * i] = dq[i] * scale;
}

// dk_u = scale sum_{t>=u} ds_tu q_t and dv_u = sum_{t>=u} p_tu dout_t.
__kernel __attribute__((reqd_work_group_size(WG_TILED, 1, 1))) void
attention_bwd_dkdv_tiled(__global const float *qkv, ulong qkv_off, __global const float *dout,
                         ulong dout_off, __global const float *lse, ulong lse_off,
                         __global const float *delta, ulong delta_off, __global float *dqkv,
                         ulong dqkv_off, int T, int H, int hd, float scale, __local float *Ks,
                         __local float *Vs, __local float *Qs, __local float *Gs,
                         __local float *PS, __local float *LD) {
    const int tid = get_local_id(0), r = tid / TPR, l = tid % TPR, hs = hd + 1;
    const int u0 = get_group_id(0) * BR, u = u0 + r, bh = get_global_id(1);
    const int b = bh / H, h = bh % H, D = H * hd;
    __global const float *base = qkv + qkv_off + QKV_AT(b, 0) + h * hd;
    __global const float *g0 = dout + dout_off + (long)b * T * D + h * hd;
    load_tile(Ks, base + D, 3 * D, u0, BR, T, hd, 1.0f);
    load_tile(Vs, base + 2 * D, 3 * D, u0, BR, T, hd, 1.0f);
    float dk[ND], dv[ND];
#pragma unroll
    for (int i = 0; i < ND; i++) dk[i] = dv[i] = 0.0f;
    // Queries before u0 see none of this work-group's keys.
    for (int t0 = u0; t0 < T; t0 += BC) {
        load_tile(Qs, base, 3 * D, t0, BC, T, hd, 1.0f);
        load_tile(Gs, g0, D, t0, BC, T, hd, 1.0f);
        for (int j = tid; j < BC; j += WG_TILED) {
            LD[j] = t0 + j < T ? lse[lse_off + (long)bh * T + t0 + j] : 0.0f;
            LD[BC + j] = t0 + j < T ? delta[delta_off + (long)bh * T + t0 + j] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        float s[NJ], dp[NJ];
        pair_dots(Ks + r * hs, Vs + r * hs, Qs, Gs, l, hd, s, dp);
#pragma unroll
        for (int c = 0; c < NJ; c++) {
            const int j = l + TPR * c, t = t0 + j;
            float p = 0.0f, ds = 0.0f;
            if (u < T && t < T && t >= u) {
                p = exp(s[c] * scale - LD[j]);
                ds = p * (dp[c] - LD[BC + j]);
            }
            PS[r * BC + j] = p;
            PS[BR * BC + r * BC + j] = ds;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (u < T) {
            const int n = min(BC, T - t0);
            for (int j = 0; j < n; j++) {
                if (t0 + j < u) continue;
                const float p = PS[r * BC + j], ds = PS[BR * BC + r * BC + j];
#pragma unroll
                for (int i = 0; i < ND; i++) {
                    if (l + TPR * i < hd) {
                        dv[i] += p * Gs[j * hs + l + TPR * i];
                        dk[i] += ds * Qs[j * hs + l + TPR * i];
                    }
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (u >= T) return;
    __global float *o = dqkv + dqkv_off + QKV_AT(b, u) + D + h * hd;
#pragma unroll
    for (int i = 0; i < ND; i++) {
        if (l + TPR * i < hd) {
            o[l + TPR * i] = dk[i] * scale;
            o[D + l + TPR * i] = dv[i];
        }
    }
}
