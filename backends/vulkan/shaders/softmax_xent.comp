#version 450
// One workgroup per row: loss = logsumexp(logits) - logits[target] and, when
// has_grad, dlogits = (softmax - onehot) * grad_scale. dlogits may alias
// logits: every read of the row that others need (the maximum, the sum, the
// target logit) completes before the barrier that precedes the writes.
#extension GL_GOOGLE_include_directive : require
#if DT_SUBGROUP
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256; // a power of two
#define real float
#include "reduce.glsl"
layout(set = 0, binding = 0) readonly buffer Logits { float logits[]; };
layout(set = 0, binding = 1) readonly buffer Targets { int targets[]; };
layout(set = 0, binding = 2) writeonly buffer Losses { float losses[]; };
layout(set = 0, binding = 3) buffer Dlogits { float dl[]; };
layout(push_constant) uniform Params {
    uint off_logits, off_targets, off_losses, off_dl;
    uint n, vocab, has_grad;
    float grad_scale;
} p;

void main() {
    const uint lid = gl_LocalInvocationID.x;
    for (uint r = gl_WorkGroupID.x; r < p.n; r += gl_NumWorkGroups.x) {
        const uint lr = p.off_logits + r * p.vocab;
        float mx = -3.4e38;
        for (uint c = lid; c < p.vocab; c += WG) mx = max(mx, logits[lr + c]);
        mx = wg_max(mx);
        float s = 0.0;
        for (uint c = lid; c < p.vocab; c += WG) s += exp(logits[lr + c] - mx);
        s = wg_sum(s);
        const int tgt = targets[p.off_targets + r];
        const bool ok = tgt >= 0 && uint(tgt) < p.vocab;
        if (lid == 0)
            losses[p.off_losses + r] =
                ok ? log(s) + mx - logits[lr + uint(tgt)] : uintBitsToFloat(0x7fc00000u);
        memoryBarrierBuffer();
        barrier();
        if (p.has_grad != 0) {
            const uint dr = p.off_dl + r * p.vocab;
            const float inv = 1.0 / s;
            for (uint c = lid; c < p.vocab; c += WG) {
                float g = 0.0;
                if (ok) g = (exp(logits[lr + c] - mx) * inv - (uint(tgt) == c ? 1.0 : 0.0)) * p.grad_scale;
                dl[dr + c] = g;
            }
        }
    }
}
