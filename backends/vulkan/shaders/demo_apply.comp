#version 450
// The canonical aggregate-decode-sign-apply of DESIGN.md section 4. Every
// replica on every vendor must produce the same bits, so every product and
// sum is `precise` (NoContraction: no fused multiply-add), nothing divides
// (the reciprocals and the DCT basis come from the host), and each value is
// formed in exactly the order of the specification:
//   acc/cnt: contributions in order, entries in stored order (one invocation
//            walks them, so even a repeated index adds in order);
//   A[i] = acc[i] * recip[cnt[i]];
//   Y[h][b] = sum_a F1[h][a] * A[a][b]   from 0.0, ascending a;
//   X[h][w] = sum_b Y[h][b] * F2[w][b]   from 0.0, ascending b;
//   W = (W * decay) - (lr * sign(X)).
// A workgroup handles tiles g, g + groups, ... in scratch region g, which
// holds acc (later A), cnt (counts as floats: exact far beyond any peer
// count) and Y.
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer Idx { int idx[]; };
layout(set = 0, binding = 1) readonly buffer Vals { float vals[]; };
layout(set = 0, binding = 2) readonly buffer Recip { float recip[]; };
layout(set = 0, binding = 3) readonly buffer F1 { float f1[]; };
layout(set = 0, binding = 4) readonly buffer F2 { float f2[]; };
layout(set = 0, binding = 5) buffer Wt { float wt[]; };
layout(set = 0, binding = 6) coherent buffer Work { float work[]; };
layout(push_constant) uniform Params {
    uint off_idx, off_vals, off_recip, off_f1, off_f2, off_w, off_work;
    uint cols, n1, n2, tiles_per_row, n_tiles, k, n_contrib;
    float lr, decay;
} p;

void main() {
    const uint lid = gl_LocalInvocationID.x;
    const uint S = p.n1 * p.n2;
    const uint ACC = p.off_work + gl_WorkGroupID.x * 3 * S, CNT = ACC + S, Y = CNT + S;
    for (uint t = gl_WorkGroupID.x; t < p.n_tiles; t += gl_NumWorkGroups.x) {
        for (uint e = lid; e < S; e += 256) {
            work[ACC + e] = 0.0;
            work[CNT + e] = 0.0;
        }
        memoryBarrierBuffer();
        barrier();
        if (lid == 0) {
            for (uint c = 0; c < p.n_contrib; c++) {
                const uint at = (c * p.n_tiles + t) * p.k;
                for (uint e = 0; e < p.k; e++) {
                    int i = idx[p.off_idx + at + e];
                    if (i < 0 || uint(i) >= S) continue;
                    precise float sum = work[ACC + uint(i)] + vals[p.off_vals + at + e];
                    work[ACC + uint(i)] = sum;
                    work[CNT + uint(i)] = work[CNT + uint(i)] + 1.0;
                }
            }
        }
        memoryBarrierBuffer();
        barrier();
        for (uint e = lid; e < S; e += 256) {
            precise float mean = work[ACC + e] * recip[p.off_recip + uint(work[CNT + e])];
            work[ACC + e] = mean;
        }
        memoryBarrierBuffer();
        barrier();
        for (uint e = lid; e < S; e += 256) {
            const uint h = e / p.n2, b = e % p.n2;
            precise float sum = 0.0;
            for (uint a = 0; a < p.n1; a++) {
                precise float prod = f1[p.off_f1 + h * p.n1 + a] * work[ACC + a * p.n2 + b];
                sum = sum + prod;
            }
            work[Y + e] = sum;
        }
        memoryBarrierBuffer();
        barrier();
        const uint r0 = (t / p.tiles_per_row) * p.n1, c0 = (t % p.tiles_per_row) * p.n2;
        for (uint e = lid; e < S; e += 256) {
            const uint h = e / p.n2, w = e % p.n2;
            precise float sum = 0.0;
            for (uint b = 0; b < p.n2; b++) {
                precise float prod = work[Y + h * p.n2 + b] * f2[p.off_f2 + w * p.n2 + b];
                sum = sum + prod;
            }
            const float s = sum > 0.0 ? 1.0 : (sum < 0.0 ? -1.0 : 0.0);
            const uint at = p.off_w + (r0 + h) * p.cols + c0 + w;
            precise float kept = wt[at] * p.decay;
            precise float step = p.lr * s;
            precise float updated = kept - step;
            wt[at] = updated;
        }
        memoryBarrierBuffer();
        barrier();
    }
}
