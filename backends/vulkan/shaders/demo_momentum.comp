#version 450
// D = beta * D + lr * g (DeMo folds the learning rate into the momentum).
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) buffer D { float dm[]; };
layout(set = 0, binding = 1) readonly buffer G { float g[]; };
layout(push_constant) uniform Params {
    uint off_d, off_g;
    uint n;
    float beta, lr;
} p;

void main() {
    const uint step = gl_NumWorkGroups.x * 256;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += step)
        dm[p.off_d + i] = p.beta * dm[p.off_d + i] + p.lr * g[p.off_g + i];
}
