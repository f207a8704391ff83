#version 450
// y = alpha * x; y may alias x.
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Params {
    uint off_x, off_y;
    uint n;
    float alpha;
} p;

void main() {
    const uint step = gl_NumWorkGroups.x * 256;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += step) y[p.off_y + i] = p.alpha * x[p.off_x + i];
}
