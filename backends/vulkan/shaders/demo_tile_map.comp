#version 450
// Elementwise passes of the DeMo tile ops between a row-major tensor T
// (cols wide, cut into n1 x n2 tiles) and a chunk of whole tiles stored
// contiguously in the workspace. The chunk is a rectangle of tiles: tile
// rows row0.. (z), tile columns col0.. (y), `chunk_cols` tiles per row; in
// the workspace its tiles follow in row-major tile order, each as n1 x n2.
// x runs over a tile's column w and each invocation walks the tile's rows:
// no per-element division. For each element (T at `at`, workspace at `e`):
//   MODE 0 gather:   work[e] = T[at]
//   MODE 1 subtract: T[at] = T[at] - work[e]
//   MODE 2 mean:     work[e] = work[e] * recip[uint(work[cnt + e])]
//   MODE 3 sign:     T[at] = (T[at] * decay) - (lr * sign(work[e]))
//   MODE 4 scaled:   T[at] = (T[at] * decay) - (lr * work[e])
// Modes 2 to 4 are steps of the canonical update: `precise` (no fused
// multiply-add), no division, the operation order of DESIGN.md section 4.
// Mode 4 is the scaled update rule, where a fused multiply-add could take
// either product into the subtraction: both are `precise` and rounded alone.
// DT_DENORM_PRESERVE: subnormal results are kept (the CPU keeps them), on
// devices that can promise it (shaderDenormPreserveFloat32).
#if DT_DENORM_PRESERVE
#extension GL_EXT_spirv_intrinsics : require
spirv_execution_mode(extensions = ["SPV_KHR_float_controls"], capabilities = [4464], 4459, 32);
#endif
layout(local_size_x = 64) in;
layout(constant_id = 0) const uint MODE = 0;
layout(set = 0, binding = 0) buffer Tensor { float tensor[]; };
layout(set = 0, binding = 1) buffer Work { float work[]; };
layout(set = 0, binding = 2) readonly buffer Recip { float recip[]; };
layout(push_constant) uniform Params {
    uint off_t, off_work, off_recip;
    uint cols, n1, n2, row0, col0, chunk_rows, chunk_cols, cnt;
    float lr, decay;
} p;

void main() {
    const uint S = p.n1 * p.n2;
    for (uint z = gl_WorkGroupID.z; z < p.chunk_rows; z += gl_NumWorkGroups.z) {
        for (uint y = gl_WorkGroupID.y; y < p.chunk_cols; y += gl_NumWorkGroups.y) {
            const uint tile = p.off_work + (z * p.chunk_cols + y) * S;
            const uint corner = p.off_t + (p.row0 + z) * p.n1 * p.cols + (p.col0 + y) * p.n2;
            for (uint w = gl_LocalInvocationID.x + gl_WorkGroupID.x * 64; w < p.n2;
                 w += gl_NumWorkGroups.x * 64) {
                for (uint h = 0; h < p.n1; h++) {
                    const uint e = tile + h * p.n2 + w, at = corner + h * p.cols + w;
                    if (MODE == 0) {
                        work[e] = tensor[at];
                    } else if (MODE == 1) {
                        tensor[at] = tensor[at] - work[e];
                    } else if (MODE == 2) {
                        precise float mean = work[e] * recip[p.off_recip + uint(work[e + p.cnt])];
                        work[e] = mean;
                    } else {
                        const float x = work[e];
                        const float s = MODE == 4 ? x : (x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : 0.0));
                        precise float kept = tensor[at] * p.decay;
                        precise float step_ = p.lr * s;
                        precise float updated = kept - step_;
                        tensor[at] = updated;
                    }
                }
            }
        }
    }
}
