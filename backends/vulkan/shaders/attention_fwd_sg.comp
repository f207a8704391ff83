#version 450
// Causal self-attention forward for CPU devices: same contract as
// attention_fwd.comp. Lane = query row t of one (batch, head); the keys
// and values stream past one row at a time, spread over the lanes (see
// attention_sg.glsl), with an online softmax per lane. No cross-lane sums:
// deterministic.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint SG = 8;
layout(constant_id = 1) const uint HD = 64;
#include "attention_sg.glsl"

layout(set = 0, binding = 0) readonly buffer Qkv { float qkv[]; };
layout(set = 0, binding = 1) writeonly buffer Out { float o[]; };
layout(set = 0, binding = 2) writeonly buffer Lse { float lse[]; };
layout(push_constant) uniform Params {
    uint off_qkv, off_out, off_lse;
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

    float q[HD], acc[HD];
    [[unroll]] for (uint d = 0; d < HD; d++) {
        q[d] = qkv[base + tq * row + d] * p.scale;
        acc[d] = 0.0;
    }
    float m = -3.0e38, l = 0.0;
    const uint kv_end = min(p.T, q0 + SG);
    for (uint u = 0; u < kv_end; u++) {
        float kr[SP], vr[SP];
        [[unroll]] for (uint j = 0; j < SP; j++) {
            kr[j] = qkv[base + u * row + p.D + lane + j * SG];
            vr[j] = qkv[base + u * row + 2 * p.D + lane + j * SG];
        }
        float s = 0.0;
        [[unroll]] for (uint d = 0; d < HD; d++) s += q[d] * SPREAD_AT(kr, d);
        // Every lane takes part in the shuffles; keys after t only leave
        // the state unchanged.
        const bool visible = u <= t;
        const float mn = visible ? max(m, s) : m;
        const float corr = exp(m - mn);
        const float pu = visible ? exp(s - mn) : 0.0;
        l = l * corr + pu;
        [[unroll]] for (uint d = 0; d < HD; d++) acc[d] = acc[d] * corr + pu * SPREAD_AT(vr, d);
        m = mn;
    }
    if (valid) {
        const float inv = 1.0 / l;
        const uint ob = p.off_out + (bt * p.T + t) * p.D + h * HD;
        [[unroll]] for (uint d = 0; d < HD; d++) o[ob + d] = acc[d] * inv;
        lse[p.off_lse + (bt * p.H + h) * p.T + t] = m + log(l);
    }
}
