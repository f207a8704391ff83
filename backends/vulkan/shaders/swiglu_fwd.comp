#version 450
// out[r, j] = silu(gate) * up with gate = h[r, j], up = h[r, F + j].
// x runs over j, y over r (both grid-stride): no per-element division.
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) readonly buffer H { float h[]; };
layout(set = 0, binding = 1) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Params {
    uint off_h, off_out;
    uint n, f;
} p;

void main() {
    for (uint r = gl_WorkGroupID.y; r < p.n; r += gl_NumWorkGroups.y) {
        const uint hr = p.off_h + r * 2 * p.f, orow = p.off_out + r * p.f;
        for (uint j = gl_GlobalInvocationID.x; j < p.f; j += gl_NumWorkGroups.x * 64) {
            float g = h[hr + j], u = h[hr + p.f + j];
            o[orow + j] = g / (1.0 + exp(-g)) * u;
        }
    }
}
