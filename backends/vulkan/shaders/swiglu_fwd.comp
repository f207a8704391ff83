#version 450
// out[r, j] = silu(gate) * up with gate = h[r, j], up = h[r, F + j].
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer H { float h[]; };
layout(set = 0, binding = 1) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Params {
    uint off_h, off_out;
    uint n, f;
} p;

void main() {
    const uint total = p.n * p.f, step = gl_NumWorkGroups.x * 256;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += step) {
        uint r = i / p.f, j = i % p.f;
        uint at = p.off_h + r * 2 * p.f + j;
        float g = h[at], u = h[at + p.f];
        o[p.off_out + i] = g / (1.0 + exp(-g)) * u;
    }
}
