#version 450
// AdamW with decoupled weight decay, elementwise (ops.h):
//   g' = grad_scale g; m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2
//   p = p (1 - lr wd) - lr (m / bias1) / (sqrt(v / bias2) + eps)
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) buffer P { float param[]; };
layout(set = 0, binding = 1) readonly buffer G { float grad[]; };
layout(set = 0, binding = 2) buffer M { float mom[]; };
layout(set = 0, binding = 3) buffer V { float var[]; };
layout(push_constant) uniform Params {
    uint off_p, off_g, off_m, off_v;
    uint n;
    float lr, beta1, beta2, eps, weight_decay, bias1, bias2, grad_scale;
} p;

void main() {
    const uint step = gl_NumWorkGroups.x * 256;
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += step) {
        float g = p.grad_scale * grad[p.off_g + i];
        float m = p.beta1 * mom[p.off_m + i] + (1.0 - p.beta1) * g;
        float v = p.beta2 * var[p.off_v + i] + (1.0 - p.beta2) * g * g;
        mom[p.off_m + i] = m;
        var[p.off_v + i] = v;
        float w = param[p.off_p + i];
        param[p.off_p + i] =
            w * (1.0 - p.lr * p.weight_decay) - p.lr * (m / p.bias1) / (sqrt(v / p.bias2) + p.eps);
    }
}
