#version 450
// dx = rstd * w * dy - x * k with k = sum(dy * w * x) * rstd^3 / cols, a
// workgroup per row. The two terms cancel when x dominates eps (completely
// for cols = 1), so where the device has doubles (DT_F64) the row sum and
// the combination are formed in double, as the CPU backend does.
// dx may alias dy: the row's reduction completes in every invocation
// before any element is written, and each invocation rewrites only what it
// read.
#extension GL_GOOGLE_include_directive : require
#if DT_SUBGROUP
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;
#if DT_F64
#define real double
#else
#define real float
#endif
#include "reduce.glsl"
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer W { float w[]; };
layout(set = 0, binding = 2) readonly buffer Rstd { float rstd[]; };
layout(set = 0, binding = 3) buffer Dy { float dy[]; };
layout(set = 0, binding = 4) buffer Dx { float dx[]; };
layout(push_constant) uniform Params {
    uint off_x, off_w, off_rstd, off_dy, off_dx;
    uint rows, cols;
} p;

void main() {
    const uint lid = gl_LocalInvocationID.x;
    for (uint r = gl_WorkGroupID.x; r < p.rows; r += gl_NumWorkGroups.x) {
        const uint xr = p.off_x + r * p.cols, dyr = p.off_dy + r * p.cols;
        const uint dxr = p.off_dx + r * p.cols;
        real s = 0.0;
        for (uint c = lid; c < p.cols; c += WG)
            s += real(dy[dyr + c]) * real(w[p.off_w + c]) * real(x[xr + c]);
        const real rs = real(rstd[p.off_rstd + r]);
        const real k = wg_sum(s) * rs * rs * rs / real(p.cols);
        memoryBarrierBuffer();
        barrier();
        for (uint c = lid; c < p.cols; c += WG)
            dx[dxr + c] = float(rs * real(w[p.off_w + c]) * real(dy[dyr + c]) - real(x[xr + c]) * k);
    }
}
