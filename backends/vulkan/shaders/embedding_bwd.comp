#version 450
// dtable[tokens[t], d] += dout[t, d] for t in order, without float atomics:
// invocation (d, g) owns column d of the rows with token % groups == g and
// walks the tokens in order, so every sum is formed in the same order as a
// serial loop, on every device and every run.
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) readonly buffer Tokens { int tokens[]; };
layout(set = 0, binding = 1) readonly buffer Dout { float dout[]; };
layout(set = 0, binding = 2) buffer Dtable { float dtable[]; };
layout(push_constant) uniform Params {
    uint off_tokens, off_dout, off_dtable;
    uint n, dim, vocab, groups;
} p;

void main() {
    const uint total = p.dim * p.groups, step = gl_NumWorkGroups.x * 64;
    for (uint w = gl_GlobalInvocationID.x; w < total; w += step) {
        uint d = w % p.dim, g = w / p.dim;
        for (uint t = 0; t < p.n; t++) {
            int tok = tokens[p.off_tokens + t];
            if (tok < 0 || uint(tok) >= p.vocab || uint(tok) % p.groups != g) continue;
            uint at = p.off_dtable + uint(tok) * p.dim + d;
            dtable[at] = dtable[at] + dout[p.off_dout + t * p.dim + d];
        }
    }
}
