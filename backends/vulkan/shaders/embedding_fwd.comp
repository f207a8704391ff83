#version 450
// out[t, d] = table[tokens[t], d]; a token outside [0, vocab) gives zeros.
// x runs over d, y over t (both grid-stride): no per-element division.
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) readonly buffer Tokens { int tokens[]; };
layout(set = 0, binding = 1) readonly buffer Table { float table[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Params {
    uint off_tokens, off_table, off_out;
    uint n, dim, vocab;
} p;

void main() {
    for (uint t = gl_WorkGroupID.y; t < p.n; t += gl_NumWorkGroups.y) {
        const int tok = tokens[p.off_tokens + t];
        const bool ok = tok >= 0 && uint(tok) < p.vocab;
        const uint src = p.off_table + (ok ? uint(tok) : 0) * p.dim, dst = p.off_out + t * p.dim;
        for (uint d = gl_GlobalInvocationID.x; d < p.dim; d += gl_NumWorkGroups.x * 64)
            o[dst + d] = ok ? table[src + d] : 0.0;
    }
}
