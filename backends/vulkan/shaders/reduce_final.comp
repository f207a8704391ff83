#version 450
// Second pass: one workgroup folds the partial results with a fixed tree.
// MODE 0: out = the sum. MODE 1: out = 1.0 if no partial flagged a
// non-finite element, else 0.0.
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint MODE = 0;
layout(set = 0, binding = 0) readonly buffer Part { float part[]; };
layout(set = 0, binding = 1) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Params {
    uint off_part, off_out;
    uint count;
} p;

shared float red[256];

void main() {
    const uint lid = gl_LocalInvocationID.x;
    float s = 0.0;
    for (uint i = lid; i < p.count; i += 256)
        s = MODE == 0 ? s + part[p.off_part + i] : max(s, part[p.off_part + i]);
    red[lid] = s;
    barrier();
    for (uint h = 128; h > 0; h >>= 1) {
        if (lid < h) red[lid] = MODE == 0 ? red[lid] + red[lid + h] : max(red[lid], red[lid + h]);
        barrier();
    }
    if (lid == 0) o[p.off_out] = MODE == 0 ? red[0] : (red[0] == 0.0 ? 1.0 : 0.0);
}
