#version 450
// Tile DCT encode, X = F1^T x F2 per tile, as two separable passes:
//   Z[s][b] = sum_m x[s][m] F2[m][b]      (into this workgroup's scratch)
//   X[a][b] = sum_s F1[s][a] Z[s][b]
// A workgroup handles tiles g, g + groups, ... and owns scratch region g.
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer F1 { float f1[]; };
layout(set = 0, binding = 2) readonly buffer F2 { float f2[]; };
layout(set = 0, binding = 3) writeonly buffer Coeffs { float coeffs[]; };
layout(set = 0, binding = 4) coherent buffer Work { float work[]; };
layout(push_constant) uniform Params {
    uint off_x, off_f1, off_f2, off_c, off_work;
    uint cols, n1, n2, tiles_per_row, n_tiles;
} p;

void main() {
    const uint lid = gl_LocalInvocationID.x;
    const uint S = p.n1 * p.n2;
    const uint z = p.off_work + gl_WorkGroupID.x * S;
    for (uint t = gl_WorkGroupID.x; t < p.n_tiles; t += gl_NumWorkGroups.x) {
        const uint r0 = (t / p.tiles_per_row) * p.n1, c0 = (t % p.tiles_per_row) * p.n2;
        const uint xt = p.off_x + r0 * p.cols + c0;
        for (uint e = lid; e < S; e += 256) {
            uint s = e / p.n2, b = e % p.n2;
            float acc = 0.0;
            for (uint m = 0; m < p.n2; m++) acc += x[xt + s * p.cols + m] * f2[p.off_f2 + m * p.n2 + b];
            work[z + e] = acc;
        }
        memoryBarrierBuffer();
        barrier();
        for (uint e = lid; e < S; e += 256) {
            uint a = e / p.n2, b = e % p.n2;
            float acc = 0.0;
            for (uint s = 0; s < p.n1; s++) acc += f1[p.off_f1 + s * p.n1 + a] * work[z + s * p.n2 + b];
            coeffs[p.off_c + t * S + e] = acc;
        }
        memoryBarrierBuffer();
        barrier(); // the scratch is rewritten for the next tile
    }
}
