#version 450
// Elementwise passes of the DeMo tile ops between a row-major tensor T
// (rows x cols, cut into n1 x n2 tiles, tiles_per_row per tile row) and a
// run of whole tiles stored contiguously in the workspace (tile t0 + e / S,
// element e % S, S = n1 * n2), for e < count:
//   MODE 0 gather:   work[e] = T[pos]
//   MODE 1 subtract: T[pos] = T[pos] - work[e]
//   MODE 2 mean:     work[e] = work[e] * recip[uint(work[cnt + e])]
//   MODE 3 sign:     T[pos] = (T[pos] * decay) - (lr * sign(work[e]))
// Modes 2 and 3 are steps of the canonical update: `precise` (no fused
// multiply-add), no division, the operation order of DESIGN.md section 4.
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint MODE = 0;
layout(set = 0, binding = 0) buffer Tensor { float tensor[]; };
layout(set = 0, binding = 1) buffer Work { float work[]; };
layout(set = 0, binding = 2) readonly buffer Recip { float recip[]; };
layout(push_constant) uniform Params {
    uint off_t, off_work, off_recip;
    uint cols, n1, n2, tiles_per_row, t0, count, cnt;
    float lr, decay;
} p;

void main() {
    const uint S = p.n1 * p.n2, step = gl_NumWorkGroups.x * 256;
    for (uint e = gl_GlobalInvocationID.x; e < p.count; e += step) {
        const uint w = p.off_work + e;
        if (MODE == 2) {
            precise float mean = work[w] * recip[p.off_recip + uint(work[w + p.cnt])];
            work[w] = mean;
            continue;
        }
        const uint t = p.t0 + e / S, i = e % S;
        const uint row = (t / p.tiles_per_row) * p.n1 + i / p.n2;
        const uint col = (t % p.tiles_per_row) * p.n2 + i % p.n2;
        const uint at = p.off_t + row * p.cols + col;
        if (MODE == 0) {
            work[w] = tensor[at];
        } else if (MODE == 1) {
            tensor[at] = tensor[at] - work[w];
        } else {
            const float x = work[w];
            const float s = x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : 0.0);
            precise float kept = tensor[at] * p.decay;
            precise float step_ = p.lr * s;
            precise float updated = kept - step_;
            tensor[at] = updated;
        }
    }
}
