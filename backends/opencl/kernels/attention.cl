// Fused causal self-attention, forward and backward, without atomics.
//
// qkv [B, T, 3D]: q of head h in columns [h*hd, (h+1)*hd), k the same plus
// D, v plus 2D. out [B, T, D]; lse and the backward's scratch [B, H, T].
// Every kernel runs on a (T, B*H) grid: one work-item per query (forward,
// dQ) or per key (dK/dV), keeping its rows and accumulators in private
// memory (head_dim <= HEAD_DIM_MAX, checked on the host). Each output is
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

__kernel __attribute__((reqd_work_group_size(WG_ATTN, 1, 1))) void
attention_fwd(__global const float *qkv, ulong qkv_off, __global float *out, ulong out_off,
              __global float *lse, ulong lse_off, int T, int H, int hd, float scale) {
    int t = get_global_id(0), bh = get_global_id(1);
    if (t >= T) return;
    int b = bh / H, h = bh % H, D = H * hd;
    __global const float *base = qkv + qkv_off;
    __global const float *qt = base + QKV_ROW(b, t) + h * hd;
    float q[HEAD_DIM_MAX], acc[HEAD_DIM_MAX];
    for (int d = 0; d < hd; d++) {
        q[d] = qt[d];
        acc[d] = 0.0f;
    }
    // Online softmax: m is the running maximum, l the running sum of
    // exp(s - m); acc is rescaled whenever m grows.
    float m = -INFINITY, l = 0.0f;
    for (int u = 0; u <= t; u++) {
        __global const float *ku = base + QKV_ROW(b, u) + D + h * hd;
        __global const float *vu = ku + D;
        float s = 0.0f;
        for (int d = 0; d < hd; d++) s += q[d] * ku[d];
        s *= scale;
        if (s > m) {
            float corr = exp(m - s);
            l *= corr;
            for (int d = 0; d < hd; d++) acc[d] *= corr;
            m = s;
        }
        float p = exp(s - m);
        l += p;
        for (int d = 0; d < hd; d++) acc[d] += p * vu[d];
    }
    __global float *ot = out + out_off + ((long)b * T + t) * D + h * hd;
    float inv = 1.0f / l;
    for (int d = 0; d < hd; d++) ot[d] = acc[d] * inv;
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
    float s = 0.0f;
    for (int d = 0; d < hd; d++) s += dout[dout_off + row + d] * out[out_off + row + d];
    delta[delta_off + (long)bh * T + t] = s;
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
    __global const float *qt = base + QKV_ROW(b, t) + h * hd;
    __global const float *g_row = dout + dout_off + ((long)b * T + t) * D + h * hd;
    float q[HEAD_DIM_MAX], g[HEAD_DIM_MAX], dq[HEAD_DIM_MAX];
    for (int d = 0; d < hd; d++) {
        q[d] = qt[d];
        g[d] = g_row[d];
        dq[d] = 0.0f;
    }
    float lse_t = lse[lse_off + (long)bh * T + t];
    float delta_t = delta[delta_off + (long)bh * T + t];
    for (int u = 0; u <= t; u++) {
        __global const float *ku = base + QKV_ROW(b, u) + D + h * hd;
        __global const float *vu = ku + D;
        float s = 0.0f, dp = 0.0f;
        for (int d = 0; d < hd; d++) {
            s += q[d] * ku[d];
            dp += g[d] * vu[d];
        }
        float p = exp(s * scale - lse_t);
        float ds = p * (dp - delta_t);
        for (int d = 0; d < hd; d++) dq[d] += ds * ku[d];
    }
    __global float *out = dqkv + dqkv_off + QKV_ROW(b, t) + h * hd;
    for (int d = 0; d < hd; d++) out[d] = dq[d] * scale;
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
    __global const float *ku = base + QKV_ROW(b, u) + D + h * hd;
    __global const float *vu = ku + D;
    float k[HEAD_DIM_MAX], v[HEAD_DIM_MAX], dk[HEAD_DIM_MAX], dv[HEAD_DIM_MAX];
    for (int d = 0; d < hd; d++) {
        k[d] = ku[d];
        v[d] = vu[d];
        dk[d] = 0.0f;
        dv[d] = 0.0f;
    }
    for (int t = u; t < T; t++) {
        __global const float *qt = base + QKV_ROW(b, t) + h * hd;
        __global const float *gt = dout + dout_off + ((long)b * T + t) * D + h * hd;
        float s = 0.0f, dp = 0.0f;
        for (int d = 0; d < hd; d++) {
            s += qt[d] * k[d];
            dp += gt[d] * v[d];
        }
        float p = exp(s * scale - lse[lse_off + (long)bh * T + t]);
        float ds = p * (dp - delta[delta_off + (long)bh * T + t]);
        for (int d = 0; d < hd; d++) {
            dv[d] += p * gt[d];
            dk[d] += ds * qt[d];
        }
    }
    __global float *out = dqkv + dqkv_off + QKV_ROW(b, u) + D + h * hd;
    for (int d = 0; d < hd; d++) {
        out[d] = dk[d] * scale;
        out[D + d] = dv[d];
    }
}
