#version 450
// Causal attention backward, key side, for GPUs:
//   dv_u = sum_t p_tu dout_t,   dk_u = scale * sum_t p_tu (dout_t.v_u - Dt) q_t
// with p recomputed exactly as in the query-side pass and Dt from scratch.
//
// A workgroup owns BR key rows, TPR threads per row (attention_tile.glsl);
// queries stream through shared memory BC rows at a time. Per block, each
// thread first forms p and ds for BC / TPR (key, query) pairs of its row
// into shared memory, then adds the block into its HD / TPR columns of dk
// and dv. So a thread keeps 2 HD / TPR accumulators in registers, where one
// thread per key row kept 4 HD (k, v, dk, dv): at HD 64 AMD's compiler gave
// that 256 VGPRs and spilled 119 of them to scratch.
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint NT = 256; // threads: TPR per key row
layout(constant_id = 1) const uint HD = 64;
layout(constant_id = 2) const uint BR = 32; // key rows per workgroup
layout(constant_id = 3) const uint BC = 32; // query rows per shared block
#include "attention_tile.glsl"

layout(set = 0, binding = 0) readonly buffer Qkv { float qkv[]; };
layout(set = 0, binding = 1) readonly buffer Dout { float dout[]; };
layout(set = 0, binding = 2) readonly buffer Lse { float lse[]; };
layout(set = 0, binding = 3) readonly buffer Scratch { float scratch[]; };
layout(set = 0, binding = 4) writeonly buffer Dqkv { float dqkv[]; };
layout(push_constant) uniform Params {
    uint off_qkv, off_dout, off_lse, off_scratch, off_dqkv;
    uint T, H, D;
    float scale;
} p;

shared float Ks[BR * HS], Vs[BR * HS]; // this workgroup's keys and values
shared float Qs[BC * HS], Gs[BC * HS]; // a block of queries and output gradients
shared float Ps[BR * BC], Ss[BR * BC]; // p_tu and ds_tu of the block
shared float Ls[BC], Ds[BC];

void main() {
    const uint tid = gl_LocalInvocationID.x, r = tid / TPR, l = tid % TPR;
    const uint h = gl_WorkGroupID.y, bt = gl_WorkGroupID.z;
    const uint u0 = gl_WorkGroupID.x * BR, u = u0 + r;
    const uint row = 3 * p.D, base = p.off_qkv + bt * p.T * row + h * HD;
    const uint stats = (bt * p.H + h) * p.T;

    for (uint e = tid; e < BR * HD; e += NT) {
        const uint i = e / HD, d = e % HD;
        const bool in_range = u0 + i < p.T;
        Ks[i * HS + d] = in_range ? qkv[base + (u0 + i) * row + p.D + d] : 0.0;
        Vs[i * HS + d] = in_range ? qkv[base + (u0 + i) * row + 2 * p.D + d] : 0.0;
    }
    float dk[ND], dv[ND];
    [[unroll]] for (uint i = 0; i < ND; i++) {
        dk[i] = 0.0;
        dv[i] = 0.0;
    }
    // Queries before u0 see none of this workgroup's keys.
    for (uint t0 = u0; t0 < p.T; t0 += BC) {
        for (uint e = tid; e < BC * HD; e += NT) {
            const uint j = e / HD, d = e % HD, t = t0 + j;
            const bool in_range = t < p.T;
            Qs[j * HS + d] = in_range ? qkv[base + t * row + d] : 0.0;
            Gs[j * HS + d] = in_range ? dout[p.off_dout + (bt * p.T + t) * p.D + h * HD + d] : 0.0;
        }
        for (uint j = tid; j < BC; j += NT) {
            const bool in_range = t0 + j < p.T;
            Ls[j] = in_range ? lse[p.off_lse + stats + t0 + j] : 0.0;
            Ds[j] = in_range ? scratch[p.off_scratch + stats + t0 + j] : 0.0;
        }
        barrier();
        // Each score sums over d in order (dp exactly like Dt, see the dq
        // pass); the row's k and v are read once per d for all NJ columns.
        float s[NJ];
        precise float dp[NJ];
        [[unroll]] for (uint c = 0; c < NJ; c++) {
            s[c] = 0.0;
            dp[c] = 0.0;
        }
        for (uint d = 0; d < HD; d++) {
            const float k = Ks[r * HS + d], v = Vs[r * HS + d];
            [[unroll]] for (uint c = 0; c < NJ; c++) {
                const uint j = l + TPR * c;
                s[c] += Qs[j * HS + d] * k;
                precise float prod = Gs[j * HS + d] * v;
                dp[c] = dp[c] + prod;
            }
        }
        [[unroll]] for (uint c = 0; c < NJ; c++) {
            const uint j = l + TPR * c, t = t0 + j;
            float pj = 0.0, ds = 0.0;
            if (u < p.T && t < p.T && t >= u) {
                pj = exp(s[c] * p.scale - Ls[j]);
                ds = pj * (dp[c] - Ds[j]);
            }
            Ps[r * BC + j] = pj;
            Ss[r * BC + j] = ds;
        }
        barrier();
        if (u < p.T) {
            const uint n = min(BC, p.T - t0);
            for (uint j = 0; j < n; j++) {
                if (t0 + j < u) continue;
                const float pj = Ps[r * BC + j], ds = Ss[r * BC + j];
                [[unroll]] for (uint i = 0; i < ND; i++) {
                    const uint d = l + TPR * i;
                    if (d < HD) {
                        dv[i] += pj * Gs[j * HS + d];
                        dk[i] += ds * Qs[j * HS + d];
                    }
                }
            }
        }
        barrier();
    }
    if (u < p.T) {
        const uint db = p.off_dqkv + (bt * p.T + u) * row + h * HD;
        [[unroll]] for (uint i = 0; i < ND; i++) {
            const uint d = l + TPR * i;
            if (d < HD) {
                dqkv[db + p.D + d] = dk[i] * p.scale;
                dqkv[db + 2 * p.D + d] = dv[i];
            }
        }
    }
}
