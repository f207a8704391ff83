#version 450
// dx = rstd * (w * dy - x * rstd^2 * sum(dy * w * x) / cols), a workgroup
// per row. dx may alias dy: the row's reduction finishes (barrier) before
// any element is written, and each invocation rewrites only what it read.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer W { float w[]; };
layout(set = 0, binding = 2) readonly buffer Rstd { float rstd[]; };
layout(set = 0, binding = 3) buffer Dy { float dy[]; };
layout(set = 0, binding = 4) buffer Dx { float dx[]; };
layout(push_constant) uniform Params {
    uint off_x, off_w, off_rstd, off_dy, off_dx;
    uint rows, cols;
} p;

shared float red[WG];

void main() {
    const uint lid = gl_LocalInvocationID.x;
    for (uint r = gl_WorkGroupID.x; r < p.rows; r += gl_NumWorkGroups.x) {
        const uint xr = p.off_x + r * p.cols, dyr = p.off_dy + r * p.cols;
        const uint dxr = p.off_dx + r * p.cols;
        float s = 0.0;
        for (uint c = lid; c < p.cols; c += WG) s += dy[dyr + c] * w[p.off_w + c] * x[xr + c];
        red[lid] = s;
        barrier();
        for (uint h = WG / 2; h > 0; h >>= 1) {
            if (lid < h) red[lid] += red[lid + h];
            barrier();
        }
        float rs = rstd[p.off_rstd + r];
        float k = rs * rs * red[0] / float(p.cols);
        memoryBarrierBuffer();
        barrier();
        for (uint c = lid; c < p.cols; c += WG)
            dx[dxr + c] = rs * (w[p.off_w + c] * dy[dyr + c] - x[xr + c] * k);
    }
}
