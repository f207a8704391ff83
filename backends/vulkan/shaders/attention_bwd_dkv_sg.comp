#version 450
// Causal attention backward, key side, for CPU devices: same contract and
// arithmetic as attention_bwd_dkv.comp, one key row per lane, the queries
// and output gradients spread over the lanes (attention_sg.glsl).
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint SG = 8;
layout(constant_id = 1) const uint HD = 64;
#include "attention_sg.glsl"

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

void main() {
    const uint lane = gl_SubgroupInvocationID;
    const uint h = gl_WorkGroupID.y, bt = gl_WorkGroupID.z;
    const uint u0 = gl_WorkGroupID.x * SG, u = u0 + lane;
    const bool valid = u < p.T;
    const uint row = 3 * p.D, base = p.off_qkv + bt * p.T * row + h * HD;
    const uint uq = min(u, p.T - 1);
    const uint stats = p.off_lse + (bt * p.H + h) * p.T;
    const uint deltas = p.off_scratch + (bt * p.H + h) * p.T;

    float k[HD], v[HD], dk[HD], dv[HD];
    [[unroll]] for (uint d = 0; d < HD; d++) {
        k[d] = qkv[base + uq * row + p.D + d];
        v[d] = qkv[base + uq * row + 2 * p.D + d];
        dk[d] = 0.0;
        dv[d] = 0.0;
    }
    // Queries before u0 see none of this workgroup's keys.
    for (uint t = u0; t < p.T; t++) {
        float qr[SP], gr[SP];
        [[unroll]] for (uint j = 0; j < SP; j++) {
            qr[j] = qkv[base + t * row + lane + j * SG];
            gr[j] = dout[p.off_dout + (bt * p.T + t) * p.D + h * HD + lane + j * SG];
        }
        const float lse_t = lse[stats + t], dt = scratch[deltas + t];
        float s = 0.0;
        precise float dp = 0.0; // formed exactly like Dt (see the dq pass)
        [[unroll]] for (uint d = 0; d < HD; d++) {
            s += SPREAD_AT(qr, d) * k[d];
            precise float prod = SPREAD_AT(gr, d) * v[d];
            dp = dp + prod;
        }
        const float pu = t >= u ? exp(s * p.scale - lse_t) : 0.0;
        const float ds = pu * (dp - dt);
        [[unroll]] for (uint d = 0; d < HD; d++) {
            dv[d] += pu * SPREAD_AT(gr, d);
            dk[d] += ds * SPREAD_AT(qr, d);
        }
    }
    if (valid) {
        const uint db = p.off_dqkv + (bt * p.T + u) * row + h * HD;
        [[unroll]] for (uint d = 0; d < HD; d++) {
            dqkv[db + p.D + d] = dk[d] * p.scale;
            dqkv[db + 2 * p.D + d] = dv[d];
        }
    }
}
