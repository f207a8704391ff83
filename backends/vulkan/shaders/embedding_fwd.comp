#version 450
// out[t, d] = table[tokens[t], d]; a token outside [0, vocab) gives zeros.
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer Tokens { int tokens[]; };
layout(set = 0, binding = 1) readonly buffer Table { float table[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float o[]; };
layout(push_constant) uniform Params {
    uint off_tokens, off_table, off_out;
    uint n, dim, vocab;
} p;

void main() {
    const uint total = p.n * p.dim, step = gl_NumWorkGroups.x * 256;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += step) {
        uint t = i / p.dim, d = i % p.dim;
        int tok = tokens[p.off_tokens + t];
        float v = 0.0;
        if (tok >= 0 && uint(tok) < p.vocab) v = table[p.off_table + uint(tok) * p.dim + d];
        o[p.off_out + i] = v;
    }
}
