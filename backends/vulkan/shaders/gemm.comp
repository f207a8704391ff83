#version 450
// C_b = alpha * op(A_b) * op(B_b) + beta * C_b, row-major, for one tile of
// BM x BN outputs per workgroup and TM x TN per invocation. Tiles of A and B
// pass through shared memory BK columns at a time; edges are zero-padded,
// so any m, n, k works. Invocation (tx, ty) owns rows ty + i*WY and columns
// tx + j*WX: neighbouring invocations read neighbouring shared words.
// With DT_PRECISE every output is a plain sum from 0.0 of one rounded
// product at a time in ascending k (no fused multiply-add), which the
// canonical DeMo update builds its inverse DCT from.
#if DT_PRECISE
#define PRECISE precise
#else
#define PRECISE
#endif
// DT_DENORM_PRESERVE: subnormal results are kept (the CPU keeps them), on
// devices that can promise it (shaderDenormPreserveFloat32).
#if DT_DENORM_PRESERVE
#extension GL_EXT_spirv_intrinsics : require
spirv_execution_mode(extensions = ["SPV_KHR_float_controls"], capabilities = [4464], 4459, 32);
#endif
layout(local_size_x_id = 0, local_size_y_id = 1) in;
layout(constant_id = 0) const uint WX = 16;
layout(constant_id = 1) const uint WY = 16;
layout(constant_id = 2) const uint TM = 4;
layout(constant_id = 3) const uint TN = 4;
layout(constant_id = 4) const uint BK = 16;
const uint BM = WY * TM;
const uint BN = WX * TN;

layout(set = 0, binding = 0) readonly buffer BufA { float a[]; };
layout(set = 0, binding = 1) readonly buffer BufB { float b[]; };
layout(set = 0, binding = 2) buffer BufC { float c[]; };

layout(push_constant) uniform Params {
    uint off_a, off_b, off_c;
    uint m, n, k;
    uint lda, ldb, ldc;
    uint stride_a, stride_b, stride_c;
    uint trans_a, trans_b;
    float alpha, beta;
    uint batch_base;
} p;

shared float As[BK * BM]; // As[kk * BM + i]
shared float Bs[BK * BN]; // Bs[kk * BN + j]

void main() {
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint tid = ty * WX + tx, threads = WX * WY;
    const uint row0 = gl_WorkGroupID.y * BM, col0 = gl_WorkGroupID.x * BN;
    const uint item = gl_WorkGroupID.z + p.batch_base;
    const uint oa = p.off_a + item * p.stride_a;
    const uint ob = p.off_b + item * p.stride_b;
    const uint oc = p.off_c + item * p.stride_c;

    PRECISE float acc[TM * TN];
    for (uint i = 0; i < TM * TN; i++) acc[i] = 0.0;

    for (uint k0 = 0; k0 < p.k; k0 += BK) {
        // Consecutive invocations load consecutive addresses of the stored
        // matrix, whichever way it is transposed.
        for (uint e = tid; e < BM * BK; e += threads) {
            uint i, kk;
            if (p.trans_a == 0) { i = e / BK; kk = e % BK; } else { kk = e / BM; i = e % BM; }
            uint gi = row0 + i, gk = k0 + kk;
            float v = 0.0;
            if (gi < p.m && gk < p.k)
                v = p.trans_a == 0 ? a[oa + gi * p.lda + gk] : a[oa + gk * p.lda + gi];
            As[kk * BM + i] = v;
        }
        for (uint e = tid; e < BK * BN; e += threads) {
            uint j, kk;
            if (p.trans_b == 0) { kk = e / BN; j = e % BN; } else { j = e / BK; kk = e % BK; }
            uint gj = col0 + j, gk = k0 + kk;
            float v = 0.0;
            if (gj < p.n && gk < p.k)
                v = p.trans_b == 0 ? b[ob + gk * p.ldb + gj] : b[ob + gj * p.ldb + gk];
            Bs[kk * BN + j] = v;
        }
        barrier();
        for (uint kk = 0; kk < BK; kk++) {
            float ar[TM], br[TN];
            for (uint i = 0; i < TM; i++) ar[i] = As[kk * BM + ty + i * WY];
            for (uint j = 0; j < TN; j++) br[j] = Bs[kk * BN + tx + j * WX];
            for (uint i = 0; i < TM; i++)
                for (uint j = 0; j < TN; j++) acc[i * TN + j] = acc[i * TN + j] + ar[i] * br[j];
        }
        barrier();
    }

    for (uint i = 0; i < TM; i++) {
        uint gi = row0 + ty + i * WY;
        if (gi >= p.m) continue;
        for (uint j = 0; j < TN; j++) {
            uint gj = col0 + tx + j * WX;
            if (gj >= p.n) continue;
            uint at = oc + gi * p.ldc + gj;
            float r = p.alpha * acc[i * TN + j];
            // beta == 0 must not read C: NaN there must not leak into C.
            if (p.beta != 0.0) r += p.beta * c[at];
            c[at] = r;
        }
    }
}
