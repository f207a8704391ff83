#version 450
// Error feedback: per tile, A is zero except A[idx] = vals (entries in
// stored order, so a repeated index keeps the last value; indices outside
// [0, S) are skipped), and D -= F1 A F2^T, computed as
//   Y[h][b] = sum_a F1[h][a] A[a][b],   x[h][w] = sum_b Y[h][b] F2[w][b].
// A workgroup handles tiles g, g + groups, ... in scratch region g (A, Y).
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer Idx { int idx[]; };
layout(set = 0, binding = 1) readonly buffer Vals { float vals[]; };
layout(set = 0, binding = 2) readonly buffer F1 { float f1[]; };
layout(set = 0, binding = 3) readonly buffer F2 { float f2[]; };
layout(set = 0, binding = 4) buffer D { float dm[]; };
layout(set = 0, binding = 5) coherent buffer Work { float work[]; };
layout(push_constant) uniform Params {
    uint off_idx, off_vals, off_f1, off_f2, off_d, off_work;
    uint cols, n1, n2, tiles_per_row, n_tiles, k;
} p;

void main() {
    const uint lid = gl_LocalInvocationID.x;
    const uint S = p.n1 * p.n2;
    const uint A = p.off_work + gl_WorkGroupID.x * 2 * S, Y = A + S;
    for (uint t = gl_WorkGroupID.x; t < p.n_tiles; t += gl_NumWorkGroups.x) {
        for (uint e = lid; e < S; e += 256) work[A + e] = 0.0;
        memoryBarrierBuffer();
        barrier();
        if (lid == 0) {
            for (uint e = 0; e < p.k; e++) {
                int i = idx[p.off_idx + t * p.k + e];
                if (i >= 0 && uint(i) < S) work[A + uint(i)] = vals[p.off_vals + t * p.k + e];
            }
        }
        memoryBarrierBuffer();
        barrier();
        for (uint e = lid; e < S; e += 256) {
            uint h = e / p.n2, b = e % p.n2;
            float acc = 0.0;
            for (uint a = 0; a < p.n1; a++) acc += f1[p.off_f1 + h * p.n1 + a] * work[A + a * p.n2 + b];
            work[Y + e] = acc;
        }
        memoryBarrierBuffer();
        barrier();
        const uint r0 = (t / p.tiles_per_row) * p.n1, c0 = (t % p.tiles_per_row) * p.n2;
        for (uint e = lid; e < S; e += 256) {
            uint h = e / p.n2, w = e % p.n2;
            float acc = 0.0;
            for (uint b = 0; b < p.n2; b++) acc += work[Y + h * p.n2 + b] * f2[p.off_f2 + w * p.n2 + b];
            uint at = p.off_d + (r0 + h) * p.cols + c0 + w;
            dm[at] = dm[at] - acc;
        }
        memoryBarrierBuffer();
        barrier();
    }
}
