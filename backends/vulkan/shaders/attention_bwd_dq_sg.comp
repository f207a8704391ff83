#version 450
// Causal attention backward, query side, for CPU devices: same contract and
// arithmetic as attention_bwd_dq.comp, one query row per lane, keys and
// values spread over the lanes (attention_sg.glsl).
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint SG = 8;
layout(constant_id = 1) const uint HD = 64;
#include "attention_sg.glsl"

layout(set = 0, binding = 0) readonly buffer Qkv { float qkv[]; };
layout(set = 0, binding = 1) readonly buffer Out { float o[]; };
layout(set = 0, binding = 2) readonly buffer Dout { float dout[]; };
layout(set = 0, binding = 3) readonly buffer Lse { float lse[]; };
layout(set = 0, binding = 4) writeonly buffer Dqkv { float dqkv[]; };
layout(set = 0, binding = 5) writeonly buffer Scratch { float scratch[]; };
layout(push_constant) uniform Params {
    uint off_qkv, off_out, off_dout, off_lse, off_dqkv, off_scratch;
    uint T, H, D;
    float scale;
} p;

void main() {
    const uint lane = gl_SubgroupInvocationID;
    const uint h = gl_WorkGroupID.y, bt = gl_WorkGroupID.z;
    const uint q0 = gl_WorkGroupID.x * SG, t = q0 + lane;
    const bool valid = t < p.T;
    const uint row = 3 * p.D, base = p.off_qkv + bt * p.T * row + h * HD;
    const uint tq = min(t, p.T - 1);
    const uint orow = (bt * p.T + tq) * p.D + h * HD;

    float q[HD], g[HD], dq[HD];
    // Dt and dp_tu are formed the same way (no contraction, same order), so
    // where out_t equals a single visible v_u their difference is exactly 0.
    precise float dt = 0.0;
    [[unroll]] for (uint d = 0; d < HD; d++) {
        q[d] = qkv[base + tq * row + d];
        g[d] = dout[p.off_dout + orow + d];
        dq[d] = 0.0;
        precise float prod = g[d] * o[p.off_out + orow + d];
        dt = dt + prod;
    }
    const uint stat = (bt * p.H + h) * p.T + tq;
    const float lse_t = lse[p.off_lse + stat];
    if (valid) scratch[p.off_scratch + stat] = dt;

    const uint kv_end = min(p.T, q0 + SG);
    for (uint u = 0; u < kv_end; u++) {
        float kr[SP], vr[SP];
        [[unroll]] for (uint j = 0; j < SP; j++) {
            kr[j] = qkv[base + u * row + p.D + lane + j * SG];
            vr[j] = qkv[base + u * row + 2 * p.D + lane + j * SG];
        }
        float s = 0.0;
        precise float dp = 0.0;
        [[unroll]] for (uint d = 0; d < HD; d++) {
            s += q[d] * SPREAD_AT(kr, d);
            precise float prod = g[d] * SPREAD_AT(vr, d);
            dp = dp + prod;
        }
        const float pu = u <= t ? exp(s * p.scale - lse_t) : 0.0;
        const float ds = pu * (dp - dt);
        [[unroll]] for (uint d = 0; d < HD; d++) dq[d] += ds * SPREAD_AT(kr, d);
    }
    if (valid) {
        const uint db = p.off_dqkv + (bt * p.T + t) * row + h * HD;
        [[unroll]] for (uint d = 0; d < HD; d++) dqkv[db + d] = dq[d] * p.scale;
    }
}
