/* GEMM through CLBlast, row-major, on the device's own queue.
 *
 * CLBlast computes alpha * op(A) op(B) + beta * C and may read C even when
 * beta is 0, which would let NaN or garbage in C through (0 * NaN = NaN).
 * The contract says C is not read then, so C's block is zeroed first with
 * an own kernel: one extra write pass, cheap next to the GEMM. */
#include <clblast_c.h>

#include "backends/opencl/opencl_backend.h"

static const char *clblast_status_name(CLBlastStatusCode s) {
    switch (s) {
    case CLBlastNotImplemented:
        return "not implemented";
    case CLBlastInvalidDimension:
        return "invalid dimension";
    case CLBlastInvalidLeadDimA:
        return "leading dimension of A too small";
    case CLBlastInvalidLeadDimB:
        return "leading dimension of B too small";
    case CLBlastInvalidLeadDimC:
        return "leading dimension of C too small";
    case CLBlastInsufficientMemoryA:
        return "buffer of A too small";
    case CLBlastInsufficientMemoryB:
        return "buffer of B too small";
    case CLBlastInsufficientMemoryC:
        return "buffer of C too small";
    case CLBlastInvalidBatchCount:
        return "invalid batch count";
    case CLBlastInvalidLocalMemUsage:
        return "not enough local memory";
    case CLBlastDatabaseError:
        return "no tuning database entry";
    case CLBlastUnknownError:
        return "unknown error";
    case CLBlastUnexpectedError:
        return "unexpected error";
    default:
        return ocl_error_name((cl_int)s); /* the OpenCL codes */
    }
}

static dt_status zero_c(ocl_device *d, const dt_gemm_desc *g, const dt_tensor *c) {
    ocl_args k = ocl_args_begin(d, OCL_K_FILL_MATRIX);
    ocl_arg_view(&k, c);
    ocl_arg_i64(&k, g->m);
    ocl_arg_i64(&k, g->n);
    ocl_arg_i64(&k, g->ldc);
    ocl_arg_i64(&k, g->stride_c);
    ocl_arg_f32(&k, 0.0f);
    size_t global[3] = {(size_t)g->n, (size_t)g->m, (size_t)g->batch};
    size_t local[3] = {OCL_WG_1D, 1, 1};
    return ocl_run(&k, "gemm", 3, global, local);
}

dt_status ocl_gemm(dt_device *dev, const dt_gemm_desc *g, const dt_tensor *a, const dt_tensor *b,
                   const dt_tensor *c) {
    ocl_device *d = ocl_dev(dev);
    if (g->beta == 0.0f) OCL_TRY(zero_c(d, g, c));
    CLBlastTranspose ta = g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode s;
    if (g->batch <= 1)
        s = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, (size_t)g->m, (size_t)g->n, (size_t)g->k,
                         g->alpha, ocl_mem(a), ocl_off(a), (size_t)g->lda, ocl_mem(b), ocl_off(b),
                         (size_t)g->ldb, g->beta, ocl_mem(c), ocl_off(c), (size_t)g->ldc, &d->queue,
                         NULL);
    else
        s = CLBlastSgemmStridedBatched(
            CLBlastLayoutRowMajor, ta, tb, (size_t)g->m, (size_t)g->n, (size_t)g->k, g->alpha,
            ocl_mem(a), ocl_off(a), (size_t)g->lda, (size_t)g->stride_a, ocl_mem(b), ocl_off(b),
            (size_t)g->ldb, (size_t)g->stride_b, g->beta, ocl_mem(c), ocl_off(c), (size_t)g->ldc,
            (size_t)g->stride_c, (size_t)g->batch, &d->queue, NULL);
    if (s == CLBlastSuccess) return DT_OK;
    const dt_device_info *info = &dev->info;
    int oom = s == CLBlastTempBufferAllocFailure || s == CLBlastOpenCLOutOfResources ||
              s == CLBlastOpenCLOutOfHostMemory;
    return dt_error(oom                                     ? DT_ERR_OOM
                    : s == CLBlastOpenCLBuildProgramFailure ? DT_ERR_BUILD
                                                            : DT_ERR_DEVICE,
                    "gemm: CLBlast %s failed on %s (%s): %s (%d) [m=%lld n=%lld k=%lld "
                    "batch=%lld%s%s]",
                    g->batch <= 1 ? "Sgemm" : "SgemmStridedBatched", info->spec, info->name,
                    clblast_status_name(s), (int)s, (long long)g->m, (long long)g->n,
                    (long long)g->k, (long long)g->batch, g->trans_a ? " A^T" : "",
                    g->trans_b ? " B^T" : "");
}
