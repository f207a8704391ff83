#version 450
// dgate = dout * up * sig * (1 + g * (1 - sig)), dup = dout * silu(g).
// x runs over j, y over r (both grid-stride): no per-element division.
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) readonly buffer H { float h[]; };
layout(set = 0, binding = 1) readonly buffer Dout { float dout[]; };
layout(set = 0, binding = 2) writeonly buffer Dh { float dh[]; };
layout(push_constant) uniform Params {
    uint off_h, off_dout, off_dh;
    uint n, f;
} p;

void main() {
    for (uint r = gl_WorkGroupID.y; r < p.n; r += gl_NumWorkGroups.y) {
        const uint hr = p.off_h + r * 2 * p.f, dr = p.off_dh + r * 2 * p.f;
        const uint gr = p.off_dout + r * p.f;
        for (uint j = gl_GlobalInvocationID.x; j < p.f; j += gl_NumWorkGroups.x * 64) {
            float g = h[hr + j], u = h[hr + p.f + j];
            float dy = dout[gr + j];
            float sig = 1.0 / (1.0 + exp(-g));
            dh[dr + j] = dy * u * sig * (1.0 + g * (1.0 - sig));
            dh[dr + p.f + j] = dy * g * sig;
        }
    }
}
