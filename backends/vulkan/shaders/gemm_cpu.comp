#version 450
// GEMM for CPU Vulkan devices (lavapipe): same contract as gemm.comp.
// There, every storage or shared memory access costs a scalar loop over the
// SIMD lanes, while registers and subgroup shuffles are vector operations.
// So a workgroup is one subgroup computing RB*SG rows by TN*SG columns
// straight from the buffers: per k, each lane loads RB values of A (rows
// lane, lane + SG, ...) and TN values of B (columns lane, lane + SG, ...),
// and shuffles hand every lane all RB*SG values of A.
// DT_PRECISE: no fused multiply-add, each output summed in ascending k (as
// in gemm.comp).
#if DT_PRECISE
#define PRECISE precise
#else
#define PRECISE
#endif
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
// DT_DENORM_PRESERVE: subnormal results are kept (the CPU keeps them), on
// devices that can promise it (shaderDenormPreserveFloat32).
#if DT_DENORM_PRESERVE
#extension GL_EXT_spirv_intrinsics : require
spirv_execution_mode(extensions = ["SPV_KHR_float_controls"], capabilities = [4464], 4459, 32);
#endif
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint SG = 8; // subgroup size = workgroup size
layout(constant_id = 1) const uint RB = 2; // row blocks of SG rows
layout(constant_id = 2) const uint TN = 8; // columns per lane
// VEC4: B is read four columns at a time (B not transposed; its offset,
// row stride and n multiples of 4): a lane owns columns 4 lane + 0..3 of
// each group of 4 SG columns, and one vec4 load replaces four.
layout(constant_id = 3) const bool VEC4 = false;

layout(set = 0, binding = 0) readonly buffer BufA { float a[]; };
layout(set = 0, binding = 1) readonly buffer BufB { float b[]; };
layout(set = 0, binding = 1) readonly buffer BufB4 { vec4 b4[]; };
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

// The column of accumulator j of this lane.
uint col_of(uint col0, uint lane, uint j) {
    return VEC4 ? col0 + (j / 4) * 4 * SG + 4 * lane + j % 4 : col0 + j * SG + lane;
}

void main() {
    const uint lane = gl_SubgroupInvocationID;
    // Row tiles vary fastest, so workgroups that run together share one
    // panel of B (k x TN*SG) in cache while their panels of A stream past.
    const uint row0 = gl_WorkGroupID.x * RB * SG, col0 = gl_WorkGroupID.y * TN * SG;
    const uint item = gl_WorkGroupID.z + p.batch_base;
    const uint oa = p.off_a + item * p.stride_a;
    const uint ob = p.off_b + item * p.stride_b;
    const uint oc = p.off_c + item * p.stride_c;

    // Element (row, kk) of op(A) is at a_row[rb] + kk * a_step; likewise B.
    uint a_at[RB], b_at[TN];
    bool a_ok[RB], b_ok[TN];
    const uint a_step = p.trans_a == 0 ? 1 : p.lda, b_step = p.trans_b == 0 ? p.ldb : 1;
    [[unroll]] for (uint rb = 0; rb < RB; rb++) {
        uint row = row0 + rb * SG + lane;
        a_ok[rb] = row < p.m;
        a_at[rb] = oa + (a_ok[rb] ? row : 0) * (p.trans_a == 0 ? p.lda : 1);
    }
    [[unroll]] for (uint j = 0; j < TN; j++) {
        uint col = col_of(col0, lane, j);
        b_ok[j] = col < p.n;
        b_at[j] = ob + (b_ok[j] ? col : 0) * (p.trans_b == 0 ? 1 : p.ldb);
    }

    PRECISE float acc[RB * SG * TN];
    [[unroll]] for (uint i = 0; i < RB * SG * TN; i++) acc[i] = 0.0;
    for (uint kk = 0; kk < p.k; kk++) {
        float av[RB], bv[TN];
        [[unroll]] for (uint rb = 0; rb < RB; rb++) av[rb] = a[a_at[rb] + kk * a_step];
        if (VEC4) {
            [[unroll]] for (uint q = 0; q < TN / 4; q++) {
                vec4 v = b4[(b_at[4 * q] + kk * b_step) / 4];
                bv[4 * q] = v.x;
                bv[4 * q + 1] = v.y;
                bv[4 * q + 2] = v.z;
                bv[4 * q + 3] = v.w;
            }
        } else {
            [[unroll]] for (uint j = 0; j < TN; j++) bv[j] = b[b_at[j] + kk * b_step];
        }
        [[unroll]] for (uint rb = 0; rb < RB; rb++) {
            [[unroll]] for (uint i = 0; i < SG; i++) {
                float ai = subgroupShuffle(av[rb], i);
                [[unroll]] for (uint j = 0; j < TN; j++)
                    acc[(rb * SG + i) * TN + j] = acc[(rb * SG + i) * TN + j] + ai * bv[j];
            }
        }
    }

    [[unroll]] for (uint rb = 0; rb < RB; rb++) {
        [[unroll]] for (uint i = 0; i < SG; i++) {
            uint row = row0 + rb * SG + i;
            if (row >= p.m) continue;
            [[unroll]] for (uint j = 0; j < TN; j++) {
                uint col = col_of(col0, lane, j);
                if (!b_ok[j]) continue;
                uint at = oc + row * p.ldc + col;
                float r = p.alpha * acc[(rb * SG + i) * TN + j];
                // beta == 0 must not read C: NaN there must not leak into C.
                if (p.beta != 0.0) r += p.beta * c[at];
                c[at] = r;
            }
        }
    }
}
