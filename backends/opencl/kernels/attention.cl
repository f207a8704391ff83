// Fused causal self-attention, forward and backward, without atomics.
//
// qkv [B, T, 3D]: q of head h in columns [h*hd, (h+1)*hd), k the same plus
// D, v plus 2D. out [B, T, D]; lse and the backward's scratch [B, H, T].
// Every kernel runs on a (T, B*H) grid: one work-item per query (forward,
// dQ) or per key (dK/dV), keeping its rows and accumulators in private
// memory as vectors (head_dim <= HEAD_DIM_MAX, checked on the host). Each output is
// written by exactly one work-item, which sums its terms in a fixed order,
// so the results are deterministic.
//
// Backward, with p_tu = exp(s_tu - lse_t), s_tu = scale q_t . k_u (u <= t):
//   delta_t = dout_t . out_t
//   ds_tu   = p_tu (dout_t . v_u - delta_t)
//   dq_t    = scale sum_{u <= t} ds_tu k_u
//   dk_u    = scale sum_{t >= u} ds_tu q_t
//   dv_u    = sum_{t >= u} p_tu dout_t

#define QKV_ROW(b, t) (((long)(b) * T + (t)) * 3 * D)
// A head's row as vectors of VW floats (common.cl); the last one is padded
// with zeros, which add nothing to dot products.
#define HD_VECS (HEAD_DIM_MAX / VW)

static inline float hsum(floatv v) {
    float4 a = v.s0123 + v.s4567;
    float2 b = a.s01 + a.s23;
    return b.s0 + b.s1;
}

// row[j] = the j-th vector of a head row of hd floats.
static inline void load_row(floatv *row, __global const float *p, int hd) {
    for (int j = 0; j * VW < hd; j++) row[j] = load_part_g(p + j * VW, hd - j * VW);
}

static inline float dot_row(const floatv *row, __global const float *p, int hd) {
    floatv s = (floatv)(0.0f);
    for (int j = 0; j * VW < hd; j++) s += row[j] * load_part_g(p + j * VW, hd - j * VW);
    return hsum(s);
}

// row += scale * p
static inline void add_row(floatv *row, float scale, __global const float *p, int hd) {
    for (int j = 0; j * VW < hd; j++) row[j] += scale * load_part_g(p + j * VW, hd - j * VW);
}

static inline void store_row(__global float *p, const floatv *row, float scale, int hd) {
    for (int j = 0; j * VW < hd; j++) store_part_g(p + j * VW, row[j] * scale, hd - j * VW);
}

__kernel __attribute__((reqd_work_group_size(WG_ATTN, 1, 1))) void
attention_fwd(__global const float *qkv, ulong qkv_off, __global float *out, ulong out_off,
              __global float *lse, ulong lse_off, int T, int H, int hd, float scale) {
    int t = get_global_id(0), bh = get_global_id(1);
    if (t >= T) return;
    int b = bh / H, h = bh % H, D = H * hd;
    __global const float *base = qkv + qkv_off;
    floatv q[HD_VECS], acc[HD_VECS];
    load_row(q, base + QKV_ROW(b, t) + h * hd, hd);
    for (int j = 0; j * VW < hd; j++) acc[j] = (floatv)(0.0f);
    // Online softmax: m is the running maximum, l the running sum of
    // exp(s - m); acc is rescaled whenever m grows.
    float m = -INFINITY, l = 0.0f;
    for (int u = 0; u <= t; u++) {
        __global const float *ku = base + QKV_ROW(b, u) + D + h * hd;
        float s = dot_row(q, ku, hd) * scale;
        if (s > m) {
            float corr = exp(m - s);
            l *= corr;
            for (int j = 0; j * VW < hd; j++) acc[j] *= corr;
            m = s;
        }
        float p = exp(s - m);
        l += p;
        add_row(acc, p, ku + D, hd);
    }
    store_row(out + out_off + ((long)b * T + t) * D + h * hd, acc, 1.0f / l, hd);
    lse[lse_off + (long)bh * T + t] = m + log(l);
}

// delta_t = dout_t . out_t into scratch [B, H, T].
__kernel __attribute__((reqd_work_group_size(WG_ATTN, 1, 1))) void
attention_bwd_delta(__global const float *out, ulong out_off, __global const float *dout,
                    ulong dout_off, __global float *delta, ulong delta_off, int T, int H, int hd) {
    int t = get_global_id(0), bh = get_global_id(1);
    if (t >= T) return;
    int b = bh / H, h = bh % H, D = H * hd;
    long row = ((long)b * T + t) * D + h * hd;
    floatv o[HD_VECS];
    load_row(o, out + out_off + row, hd);
    delta[delta_off + (long)bh * T + t] = dot_row(o, dout + dout_off + row, hd);
}

// dq_t: one work-item per query, keys in ascending order.
__kernel __attribute__((reqd_work_group_size(WG_ATTN, 1, 1))) void
attention_bwd_dq(__global const float *qkv, ulong qkv_off, __global const float *dout,
                 ulong dout_off, __global const float *lse, ulong lse_off,
                 __global const float *delta, ulong delta_off, __global float *dqkv,
                 ulong dqkv_off, int T, int H, int hd, float scale) {
    int t = get_global_id(0), bh = get_global_id(1);
    if (t >= T) return;
    int b = bh / H, h = bh % H, D = H * hd;
    __global const float *base = qkv + qkv_off;
    floatv q[HD_VECS], g[HD_VECS], dq[HD_VECS];
    load_row(q, base + QKV_ROW(b, t) + h * hd, hd);
    load_row(g, dout + dout_off + ((long)b * T + t) * D + h * hd, hd);
    for (int j = 0; j * VW < hd; j++) dq[j] = (floatv)(0.0f);
    float lse_t = lse[lse_off + (long)bh * T + t];
    float delta_t = delta[delta_off + (long)bh * T + t];
    for (int u = 0; u <= t; u++) {
        __global const float *ku = base + QKV_ROW(b, u) + D + h * hd;
        float p = exp(dot_row(q, ku, hd) * scale - lse_t);
        float ds = p * (dot_row(g, ku + D, hd) - delta_t);
        add_row(dq, ds, ku, hd);
    }
    store_row(dqkv + dqkv_off + QKV_ROW(b, t) + h * hd, dq, scale, hd);
}

// dk_u and dv_u: one work-item per key, queries in ascending order.
__kernel __attribute__((reqd_work_group_size(WG_ATTN, 1, 1))) void
attention_bwd_dkdv(__global const float *qkv, ulong qkv_off, __global const float *dout,
                   ulong dout_off, __global const float *lse, ulong lse_off,
                   __global const float *delta, ulong delta_off, __global float *dqkv,
                   ulong dqkv_off, int T, int H, int hd, float scale) {
    int u = get_global_id(0), bh = get_global_id(1);
    if (u >= T) return;
    int b = bh / H, h = bh % H, D = H * hd;
    __global const float *base = qkv + qkv_off;
    floatv k[HD_VECS], v[HD_VECS], dk[HD_VECS], dv[HD_VECS];
    load_row(k, base + QKV_ROW(b, u) + D + h * hd, hd);
    load_row(v, base + QKV_ROW(b, u) + 2 * D + h * hd, hd);
    for (int j = 0; j * VW < hd; j++) dk[j] = dv[j] = (floatv)(0.0f);
    for (int t = u; t < T; t++) {
        __global const float *qt = base + QKV_ROW(b, t) + h * hd;
        __global const float *gt = dout + dout_off + ((long)b * T + t) * D + h * hd;
        float p = exp(dot_row(k, qt, hd) * scale - lse[lse_off + (long)bh * T + t]);
        float ds = p * (dot_row(v, gt, hd) - delta[delta_off + (long)bh * T + t]);
        add_row(dv, p, gt, hd);
        add_row(dk, ds, qt, hd);
    }
    __global float *out = dqkv + dqkv_off + QKV_ROW(b, u) + D + h * hd;
    store_row(out, dk, scale, hd);
    store_row(out + D, dv, 1.0f, hd);
}
