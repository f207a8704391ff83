#version 450
// Causal attention forward for GPUs, flash-style: for query row t,
//   out_t = sum_{u<=t} softmax_u(scale q_t.k_u) v_u,   lse_t = log sum_u exp(.)
// with a running maximum, so no T x T matrix is stored.
//
// A workgroup owns BR query rows, TPR threads per row (attention_tile.glsl);
// keys and values stream through shared memory BC rows at a time. Per block,
// each thread forms the scores of BC / TPR (query, key) pairs of its row
// into shared memory; then every thread of a row reads the row's scores, so
// all of them hold the same maximum and sum (same values, same order) and
// each adds the block into its HD / TPR columns of out. That keeps HD / TPR
// accumulators per thread instead of 2 HD (q, out): at HD 128 AMD's compiler
// put those in scratch memory.
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint NT = 256; // threads: TPR per query row
layout(constant_id = 1) const uint HD = 64;
layout(constant_id = 2) const uint BR = 32; // query rows per workgroup
layout(constant_id = 3) const uint BC = 32; // key rows per shared block
#include "attention_tile.glsl"

layout(set = 0, binding = 0) readonly buffer Qkv { float qkv[]; };
layout(set = 0, binding = 1) writeonly buffer Out { float o[]; };
layout(set = 0, binding = 2) writeonly buffer Lse { float lse[]; };
layout(push_constant) uniform Params {
    uint off_qkv, off_out, off_lse;
    uint T, H, D;
    float scale;
} p;

shared float Qs[BR * HS];              // this workgroup's queries, times scale
shared float Ks[BC * HS], Vs[BC * HS]; // a block of keys and values
shared float Ss[BR * BC];              // scores of the block

void main() {
    const uint tid = gl_LocalInvocationID.x, r = tid / TPR, l = tid % TPR;
    const uint h = gl_WorkGroupID.y, bt = gl_WorkGroupID.z;
    const uint q0 = gl_WorkGroupID.x * BR, t = q0 + r;
    const uint row = 3 * p.D, base = p.off_qkv + bt * p.T * row + h * HD;

    for (uint e = tid; e < BR * HD; e += NT) {
        const uint i = e / HD, d = e % HD;
        Qs[i * HS + d] = q0 + i < p.T ? qkv[base + (q0 + i) * row + d] * p.scale : 0.0;
    }
    float acc[ND];
    [[unroll]] for (uint i = 0; i < ND; i++) acc[i] = 0.0;
    float m = -3.0e38, sum = 0.0;
    const uint kv_end = min(p.T, q0 + BR);
    for (uint k0 = 0; k0 < kv_end; k0 += BC) {
        for (uint e = tid; e < BC * HD; e += NT) {
            const uint j = e / HD, d = e % HD, u = k0 + j;
            const bool in_range = u < p.T;
            Ks[j * HS + d] = in_range ? qkv[base + u * row + p.D + d] : 0.0;
            Vs[j * HS + d] = in_range ? qkv[base + u * row + 2 * p.D + d] : 0.0;
        }
        barrier();
        // Each score sums over d in order; q is read once per d for all NJ.
        float s[NJ];
        [[unroll]] for (uint c = 0; c < NJ; c++) s[c] = 0.0;
        for (uint d = 0; d < HD; d++) {
            const float q = Qs[r * HS + d];
            [[unroll]] for (uint c = 0; c < NJ; c++) s[c] += q * Ks[(l + TPR * c) * HS + d];
        }
        [[unroll]] for (uint c = 0; c < NJ; c++) Ss[r * BC + l + TPR * c] = s[c];
        barrier();
        if (t < p.T && k0 <= t) {
            const uint n = min(BC, t - k0 + 1);
            float bm = m;
            for (uint j = 0; j < n; j++) bm = max(bm, Ss[r * BC + j]);
            const float corr = exp(m - bm);
            sum *= corr;
            [[unroll]] for (uint i = 0; i < ND; i++) acc[i] *= corr;
            for (uint j = 0; j < n; j++) {
                const float pj = exp(Ss[r * BC + j] - bm);
                sum += pj;
                [[unroll]] for (uint i = 0; i < ND; i++) {
                    const uint d = l + TPR * i;
                    if (d < HD) acc[i] += pj * Vs[j * HS + d];
                }
            }
            m = bm;
        }
        barrier();
    }
    if (t < p.T) {
        const float inv = 1.0 / sum;
        const uint ob = p.off_out + (bt * p.T + t) * p.D + h * HD;
        [[unroll]] for (uint i = 0; i < ND; i++) {
            const uint d = l + TPR * i;
            if (d < HD) o[ob + d] = acc[i] * inv;
        }
        if (l == 0) lse[p.off_lse + (bt * p.H + h) * p.T + t] = m + log(sum);
    }
}
