#version 450
// dgate = dout * up * sig * (1 + g * (1 - sig)), dup = dout * silu(g).
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer H { float h[]; };
layout(set = 0, binding = 1) readonly buffer Dout { float dout[]; };
layout(set = 0, binding = 2) writeonly buffer Dh { float dh[]; };
layout(push_constant) uniform Params {
    uint off_h, off_dout, off_dh;
    uint n, f;
} p;

void main() {
    const uint total = p.n * p.f, step = gl_NumWorkGroups.x * 256;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += step) {
        uint r = i / p.f, j = i % p.f;
        uint at = r * 2 * p.f + j;
        float g = h[p.off_h + at], u = h[p.off_h + at + p.f];
        float dy = dout[p.off_dout + i];
        float sig = 1.0 / (1.0 + exp(-g));
        dh[p.off_dh + at] = dy * u * sig * (1.0 + g * (1.0 - sig));
        dh[p.off_dh + at + p.f] = dy * g * sig;
    }
}
