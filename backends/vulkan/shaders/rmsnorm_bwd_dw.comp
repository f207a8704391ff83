#version 450
// dw[c] += sum over rows of dy[r, c] * x[r, c] * rstd[r]: one invocation per
// column walks the rows in order (deterministic, no atomics). Runs before
// the dx pass, which may overwrite dy.
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Rstd { float rstd[]; };
layout(set = 0, binding = 2) readonly buffer Dy { float dy[]; };
layout(set = 0, binding = 3) buffer Dw { float dw[]; };
layout(push_constant) uniform Params {
    uint off_x, off_rstd, off_dy, off_dw;
    uint rows, cols;
} p;

void main() {
    const uint step = gl_NumWorkGroups.x * 64;
    for (uint c = gl_GlobalInvocationID.x; c < p.cols; c += step) {
        float s = 0.0;
        for (uint r = 0; r < p.rows; r++)
            s += dy[p.off_dy + r * p.cols + c] * x[p.off_x + r * p.cols + c] * rstd[p.off_rstd + r];
        dw[p.off_dw + c] += s;
    }
}
