#version 450
// Causal attention backward, key side: one invocation per key row u sums
// over the queries t >= u, streamed through shared memory:
//   dv_u = sum_t p_tu dout_t,   dk_u = scale * sum_t p_tu (dout_t.v_u - Dt) q_t
// with p recomputed exactly as in the query-side pass and Dt from scratch.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint BQ = 64; // key rows per workgroup
layout(constant_id = 1) const uint HD = 64;
layout(constant_id = 2) const uint BKV = 16; // query rows per shared block

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

shared float Qs[BKV * HD];
shared float Gs[BKV * HD];
shared float Ls[BKV];
shared float Ds[BKV];

void main() {
    const uint lid = gl_LocalInvocationID.x;
    const uint h = gl_WorkGroupID.y, bt = gl_WorkGroupID.z;
    const uint u0 = gl_WorkGroupID.x * BQ, u = u0 + lid;
    const bool valid = u < p.T;
    const uint row = 3 * p.D, base = p.off_qkv + bt * p.T * row + h * HD;
    const uint stats = (bt * p.H + h) * p.T;

    float k[HD], v[HD], dk[HD], dv[HD];
    for (uint d = 0; d < HD; d++) {
        k[d] = valid ? qkv[base + u * row + p.D + d] : 0.0;
        v[d] = valid ? qkv[base + u * row + 2 * p.D + d] : 0.0;
        dk[d] = 0.0;
        dv[d] = 0.0;
    }
    // Queries before u0 see none of this workgroup's keys.
    for (uint t0 = u0; t0 < p.T; t0 += BKV) {
        for (uint e = lid; e < BKV * HD; e += BQ) {
            uint t = t0 + e / HD, d = e % HD;
            bool in_range = t < p.T;
            Qs[e] = in_range ? qkv[base + t * row + d] : 0.0;
            Gs[e] = in_range ? dout[p.off_dout + (bt * p.T + t) * p.D + h * HD + d] : 0.0;
        }
        for (uint j = lid; j < BKV; j += BQ) {
            bool in_range = t0 + j < p.T;
            Ls[j] = in_range ? lse[p.off_lse + stats + t0 + j] : 0.0;
            Ds[j] = in_range ? scratch[p.off_scratch + stats + t0 + j] : 0.0;
        }
        barrier();
        if (valid) {
            const uint n = min(BKV, p.T - t0);
            for (uint j = 0; j < n; j++) {
                if (t0 + j < u) continue;
                float s = 0.0;
                precise float dp = 0.0; // formed exactly like Dt (see the dq pass)
                for (uint d = 0; d < HD; d++) {
                    s += Qs[j * HD + d] * k[d];
                    precise float prod = Gs[j * HD + d] * v[d];
                    dp = dp + prod;
                }
                float pj = exp(s * p.scale - Ls[j]);
                float ds = pj * (dp - Ds[j]);
                for (uint d = 0; d < HD; d++) {
                    dv[d] += pj * Gs[j * HD + d];
                    dk[d] += ds * Qs[j * HD + d];
                }
            }
        }
        barrier();
    }
    if (valid) {
        const uint db = p.off_dqkv + (bt * p.T + u) * row + h * HD;
        for (uint d = 0; d < HD; d++) {
            dqkv[db + p.D + d] = dk[d] * p.scale;
            dqkv[db + 2 * p.D + d] = dv[d];
        }
    }
}
