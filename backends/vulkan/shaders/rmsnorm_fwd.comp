#version 450
// One workgroup per row: rstd = 1 / sqrt(mean(x^2) + eps), y = x * rstd * w.
// y may alias x: each invocation reads its elements before writing them.
#extension GL_GOOGLE_include_directive : require
#if DT_SUBGROUP
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256; // a power of two
#define real float
#include "reduce.glsl"
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer W { float w[]; };
layout(set = 0, binding = 2) buffer Y { float y[]; };
layout(set = 0, binding = 3) writeonly buffer Rstd { float rstd[]; };
layout(push_constant) uniform Params {
    uint off_x, off_w, off_y, off_rstd;
    uint rows, cols;
    float eps;
} p;

void main() {
    const uint lid = gl_LocalInvocationID.x;
    for (uint r = gl_WorkGroupID.x; r < p.rows; r += gl_NumWorkGroups.x) {
        const uint xr = p.off_x + r * p.cols, yr = p.off_y + r * p.cols;
        float s = 0.0;
        for (uint c = lid; c < p.cols; c += WG) {
            float v = x[xr + c];
            s += v * v;
        }
        const float rs = 1.0 / sqrt(wg_sum(s) / float(p.cols) + p.eps);
        if (lid == 0) rstd[p.off_rstd + r] = rs;
        for (uint c = lid; c < p.cols; c += WG) y[yr + c] = x[xr + c] * rs * w[p.off_w + c];
    }
}
