#version 450
// y = a + b; y may alias a or b (each element is read, then written).
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) readonly buffer B { float b[]; };
layout(set = 0, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params {
    uint off_a, off_b, off_y;
    uint n;
} p;

void main() {
    const uint step = gl_NumWorkGroups.x * 256;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += step)
        y[p.off_y + i] = a[p.off_a + i] + b[p.off_b + i];
}
