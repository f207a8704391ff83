#version 450
// Causal self-attention forward, flash style: a workgroup takes BQ query
// rows of one (batch, head), one invocation per row, and streams the keys
// and values through shared memory BKV at a time with an online softmax.
// Nothing is accumulated across invocations, so results are deterministic.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint BQ = 64;  // query rows per workgroup
layout(constant_id = 1) const uint HD = 64;  // head dimension
layout(constant_id = 2) const uint BKV = 16; // keys per shared block

layout(set = 0, binding = 0) readonly buffer Qkv { float qkv[]; };
layout(set = 0, binding = 1) writeonly buffer Out { float o[]; };
layout(set = 0, binding = 2) writeonly buffer Lse { float lse[]; };
layout(push_constant) uniform Params {
    uint off_qkv, off_out, off_lse;
    uint T, H, D;
    float scale;
} p;

shared float Ks[BKV * HD];
shared float Vs[BKV * HD];

void main() {
    const uint lid = gl_LocalInvocationID.x;
    const uint h = gl_WorkGroupID.y, bt = gl_WorkGroupID.z;
    const uint q0 = gl_WorkGroupID.x * BQ, t = q0 + lid;
    const bool valid = t < p.T;
    const uint row = 3 * p.D, base = p.off_qkv + bt * p.T * row + h * HD;

    float q[HD], acc[HD];
    for (uint d = 0; d < HD; d++) {
        q[d] = valid ? qkv[base + t * row + d] * p.scale : 0.0;
        acc[d] = 0.0;
    }
    float m = -3.0e38, l = 0.0;
    const uint kv_end = min(p.T, q0 + BQ);
    for (uint k0 = 0; k0 < kv_end; k0 += BKV) {
        for (uint e = lid; e < BKV * HD; e += BQ) {
            uint u = k0 + e / HD, d = e % HD;
            bool in_range = u < p.T;
            Ks[e] = in_range ? qkv[base + u * row + p.D + d] : 0.0;
            Vs[e] = in_range ? qkv[base + u * row + 2 * p.D + d] : 0.0;
        }
        barrier();
        if (valid && k0 <= t) {
            const uint n = min(BKV, t - k0 + 1);
            float sc[BKV];
            float bm = m;
            for (uint j = 0; j < n; j++) {
                float s = 0.0;
                for (uint d = 0; d < HD; d++) s += q[d] * Ks[j * HD + d];
                sc[j] = s;
                bm = max(bm, s);
            }
            float corr = exp(m - bm);
            l *= corr;
            for (uint d = 0; d < HD; d++) acc[d] *= corr;
            for (uint j = 0; j < n; j++) {
                float pj = exp(sc[j] - bm);
                l += pj;
                for (uint d = 0; d < HD; d++) acc[d] += pj * Vs[j * HD + d];
            }
            m = bm;
        }
        barrier();
    }
    if (valid) {
        float inv = 1.0 / l;
        const uint ob = p.off_out + (bt * p.T + t) * p.D + h * HD;
        for (uint d = 0; d < HD; d++) o[ob + d] = acc[d] * inv;
        lse[p.off_lse + (bt * p.H + h) * p.T + t] = m + log(l);
    }
}
