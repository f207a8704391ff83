#version 450
// First pass of a deterministic reduction: workgroup g reduces the elements
// i = g*WG + lid + j*groups*WG with a fixed tree into part[g]. The number of
// groups depends only on n, so the result is the same on every run.
// MODE 0: sum of squares. MODE 1: 1.0 if any element is not finite.
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint MODE = 0;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Part { float part[]; };
layout(push_constant) uniform Params {
    uint off_x, off_part;
    uint n;
} p;

shared float red[256];

void main() {
    const uint lid = gl_LocalInvocationID.x, step = gl_NumWorkGroups.x * 256;
    float s = 0.0;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += step) {
        float v = x[p.off_x + i];
        // Finite means an exponent field below all ones; a bit test cannot
        // be optimised away the way an isnan() under fast math can.
        if (MODE == 0) s += v * v;
        else if ((floatBitsToUint(v) & 0x7f800000u) == 0x7f800000u) s = 1.0;
    }
    red[lid] = s;
    barrier();
    for (uint h = 128; h > 0; h >>= 1) {
        if (lid < h) red[lid] = MODE == 0 ? red[lid] + red[lid + h] : max(red[lid], red[lid + h]);
        barrier();
    }
    if (lid == 0) part[p.off_part + gl_WorkGroupID.x] = red[0];
}
