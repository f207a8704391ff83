#version 450
// Sparse tiles into dense ones in the workspace, one invocation per tile,
// entries in stored order (so the result never depends on scheduling):
//   MODE 0 (decode):    work[i] = vals[e] for each entry; a repeated index
//                       keeps the last value
//   MODE 1 (aggregate): for each contribution c in order, each entry:
//                       acc[i] = acc[i] + vals (precise), cnt[i] += 1
// Indices outside [0, S) are skipped. The workspace starts zeroed.
// DT_DENORM_PRESERVE: subnormal results are kept (the CPU keeps them), on
// devices that can promise it (shaderDenormPreserveFloat32).
#if DT_DENORM_PRESERVE
#extension GL_EXT_spirv_intrinsics : require
spirv_execution_mode(extensions = ["SPV_KHR_float_controls"], capabilities = [4464], 4459, 32);
#endif
layout(local_size_x = 64) in;
layout(constant_id = 0) const uint MODE = 0;
layout(set = 0, binding = 0) readonly buffer Idx { int idx[]; };
layout(set = 0, binding = 1) readonly buffer Vals { float vals[]; };
layout(set = 0, binding = 2) buffer Work { float work[]; };
layout(push_constant) uniform Params {
    uint off_idx, off_vals, off_work;
    uint n_tiles, t0, tiles, k, n_contrib, size, cnt;
} p;

void main() {
    const uint step = gl_NumWorkGroups.x * 64;
    for (uint j = gl_GlobalInvocationID.x; j < p.tiles; j += step) {
        const uint t = p.t0 + j, acc = p.off_work + j * p.size;
        const uint contribs = MODE == 0 ? 1 : p.n_contrib;
        for (uint c = 0; c < contribs; c++) {
            const uint at = (c * p.n_tiles + t) * p.k;
            for (uint e = 0; e < p.k; e++) {
                int i = idx[p.off_idx + at + e];
                if (i < 0 || uint(i) >= p.size) continue;
                const float v = vals[p.off_vals + at + e];
                if (MODE == 0) {
                    work[acc + uint(i)] = v;
                } else {
                    precise float sum = work[acc + uint(i)] + v;
                    work[acc + uint(i)] = sum;
                    work[acc + p.cnt + uint(i)] = work[acc + p.cnt + uint(i)] + 1.0;
                }
            }
        }
    }
}
