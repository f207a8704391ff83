/* GEMM through CLBlast, row-major, on the device's own queue.
 *
 * CLBlast's indirect GEMM pads its operands into a temporary buffer; the
 * device keeps one, grown to the largest GEMM seen, so a training step with
 * its fixed set of shapes allocates nothing after the first step.
 *
 * CLBlast computes alpha * op(A) op(B) + beta * C and may read C even when
 * beta is 0, which would let NaN or garbage in C through (0 * NaN = NaN).
 * The contract says C is not read then, so C's block is zeroed first with
 * an own kernel: one extra write pass, cheap next to the GEMM. */
#include <clblast_c.h>
#include <string.h>

#include "backends/opencl/opencl_backend.h"

/* PoCL's CPU device is not in CLBlast's tuning database, and the defaults
 * (written for GPUs) reach 2-4 GFLOP/s there. These Xgemm parameters were
 * chosen by timing a small grid on PoCL 3.1 (2 AVX-512 cores): 4 x 4
 * work-items, each with an 8 x 8 register tile of 8-wide vectors, no local
 * memory (it is ordinary RAM on a CPU). They reach 15-50 GFLOP/s on the
 * model's shapes. The direct kernel is slower there and compiles for
 * minutes, so every size takes the indirect path. */
static const char *const pocl_xgemm_names[] = {"GEMMK", "KREG",  "KWG",   "KWI", "MDIMA", "MDIMC",
                                               "MWG",   "NDIMB", "NDIMC", "NWG", "SA",    "SB",
                                               "STRM",  "STRN",  "VWM",   "VWN"};
static const size_t pocl_xgemm_values[] = {0, 1, 32, 2, 4, 4, 32, 4, 4, 32, 0, 0, 0, 0, 8, 8};

bool ocl_cpu_paths(cl_device_id device, int kernels) {
    if (kernels != OCL_KERNELS_AUTO) return kernels == OCL_KERNELS_CPU;
    cl_device_type type = 0;
    clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    return (type & CL_DEVICE_TYPE_CPU) != 0;
}

bool ocl_clblast_tuned(cl_platform_id platform, bool cpu_paths) {
    char name[128];
    ocl_platform_string(platform, CL_PLATFORM_NAME, name, sizeof name);
    return cpu_paths && strstr(name, "Portable Computing Language");
}

const char *ocl_gemm_note(bool tuned) {
    return tuned ? "GEMM via CLBlast (PoCL-tuned parameters)" : "GEMM via CLBlast";
}

dt_status ocl_gemm_setup(ocl_device *d) {
    if (!ocl_clblast_tuned(d->platform, d->cpu_paths)) return DT_OK;
    size_t n = sizeof pocl_xgemm_values / sizeof pocl_xgemm_values[0];
    const char *routine_names[] = {"XGEMM_MIN_INDIRECT_SIZE"};
    const size_t routine_values[] = {1};
    CLBlastStatusCode s =
        CLBlastOverrideParameters(d->device, "Xgemm", CLBlastPrecisionSingle, n,
                                  (const char **)pocl_xgemm_names, pocl_xgemm_values);
    if (s == CLBlastSuccess)
        s = CLBlastOverrideParameters(d->device, "GemmRoutine", CLBlastPrecisionSingle, 1,
                                      routine_names, routine_values);
    if (s != CLBlastSuccess)
        return dt_error(DT_ERR_DEVICE, "%s (%s): CLBlastOverrideParameters failed (%d)",
                        d->base.info.spec, d->base.info.name, (int)s);
    return DT_OK;
}

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

/* Grows the device's CLBlast scratch to at least `bytes` (1.5x, so a few
 * growing shapes do not reallocate each time). Ops already enqueued keep
 * the old buffer alive until they finish. */
static dt_status grow_scratch(ocl_device *d, size_t bytes) {
    if (bytes <= d->gemm_scratch_bytes) return DT_OK;
    size_t size = bytes + bytes / 2;
    cl_int err;
    cl_mem m = clCreateBuffer(d->context, CL_MEM_READ_WRITE, size, NULL, &err);
    if (!m) {
        size = bytes;
        m = clCreateBuffer(d->context, CL_MEM_READ_WRITE, size, NULL, &err);
    }
    if (!m) return ocl_fail(d, "gemm", "clCreateBuffer (CLBlast scratch)", err);
    if (d->gemm_scratch) clReleaseMemObject(d->gemm_scratch);
    d->gemm_scratch = m;
    d->gemm_scratch_bytes = size;
    return DT_OK;
}

dt_status ocl_gemm(dt_device *dev, const dt_gemm_desc *g, const dt_tensor *a, const dt_tensor *b,
                   const dt_tensor *c) {
    ocl_device *d = ocl_dev(dev);
    if (g->beta == 0.0f) OCL_TRY(zero_c(d, g, c));
    CLBlastTranspose ta = g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode s;
    if (g->batch <= 1) {
        size_t need = 0;
        s = CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, ta, tb, (size_t)g->m, (size_t)g->n,
                                       (size_t)g->k, ocl_off(a), (size_t)g->lda, ocl_off(b),
                                       (size_t)g->ldb, ocl_off(c), (size_t)g->ldc, &d->queue,
                                       &need);
        if (s == CLBlastSuccess && need > 0) OCL_TRY(grow_scratch(d, need));
        if (s == CLBlastSuccess)
            s = CLBlastSgemmWithTempBuffer(
                CLBlastLayoutRowMajor, ta, tb, (size_t)g->m, (size_t)g->n, (size_t)g->k, g->alpha,
                ocl_mem(a), ocl_off(a), (size_t)g->lda, ocl_mem(b), ocl_off(b), (size_t)g->ldb,
                g->beta, ocl_mem(c), ocl_off(c), (size_t)g->ldc, &d->queue, NULL,
                need > 0 ? d->gemm_scratch : NULL);
    } else
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
