/* GEMM through cuBLAS, opened with dlopen when a device opens (by soname on
 * the loader's path, then in the toolkit's library folder found at build
 * time): the binary then starts (and the other backends work) on a machine
 * without the CUDA toolkit's shared libraries, and a missing libcublas is an
 * error of cuda:N's open that names the file.
 *
 * fp32 with CUBLAS_PEDANTIC_MATH: no TF32 tensor-core paths and no reduced
 * precision reductions, so results stay close to the CPU backend. The device
 * option tf32=on ("cuda:0:tf32=on") asks for TF32 tensor cores instead.
 *
 * Row-major to column-major. cuBLAS reads a matrix stored row-major as
 * R (r x c, leading dimension ld) as the column-major matrix R^T (c x r, same
 * ld). The project asks, per batch item, for the row-major
 *   C (m x n) = alpha op(A) op(B) + beta C.
 * Transposing both sides: C^T = alpha op(B)^T op(A)^T + beta C^T, and C^T is
 * exactly what cuBLAS sees in C's memory (n x m, ldc). So we call cuBLAS with
 * the operands swapped:
 *   cuBLAS A' = B's memory, B' = A's memory, m' = n, n' = m, k' = k.
 * For A' cuBLAS must produce op(B)^T. Without trans_b, B is stored k x n
 * row-major, which cuBLAS already sees as B^T (n x k): no transpose (N),
 * lda' = ldb. With trans_b, B is stored n x k row-major, seen as (n x k)^T =
 * k x n = op(B); op(B)^T is its transpose: T, lda' = ldb. Likewise op A' ->
 * trans_a ? T : N with ldb' = lda, and ldc' = ldc. Batch strides follow their
 * operands: strideA' = stride_b, strideB' = stride_a, strideC' = stride_c. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <cublas_v2.h>

#include "backends/cuda/cuda_backend.h"

typedef cublasStatus_t (*create_fn)(cublasHandle_t *);
typedef cublasStatus_t (*destroy_fn)(cublasHandle_t);
typedef cublasStatus_t (*set_stream_fn)(cublasHandle_t, cudaStream_t);
typedef cublasStatus_t (*set_math_fn)(cublasHandle_t, cublasMath_t);
typedef const char *(*status_string_fn)(cublasStatus_t);
typedef cublasStatus_t (*sgemm_sb_fn)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int,
                                      int, int, const float *, const float *, int, long long int,
                                      const float *, int, long long int, const float *, float *,
                                      int, long long int, int);

struct cu_blas {
    void *lib;
    cublasHandle_t handle;
    destroy_fn destroy;
    status_string_fn status_string;
    sgemm_sb_fn sgemm;
};

#define STR_(x) #x
#define STR(x)  STR_(x)
/* The soname of the cuBLAS the backend was compiled against. */
#define CUBLAS_SONAME "libcublas.so." STR(CUBLAS_VER_MAJOR)

static dt_status blas_fail(const cu_device *d, const char *op, const char *call, cublasStatus_t s) {
    /* cuBLAS reports a kernel fault only as a failed execution: the stream
     * tells which, and the CUDA error says more than the status does. */
    cudaError_t e = d->stream ? cudaStreamQuery(d->stream) : cudaSuccess;
    if (cu_error_sticky(e)) return cu_fail(d, op, call, e);
    const char *what = d->blas && d->blas->status_string ? d->blas->status_string(s) : "";
    return dt_error(s == CUBLAS_STATUS_ALLOC_FAILED ? DT_ERR_OOM : DT_ERR_DEVICE,
                    "%s: %s failed on %s (%s): cuBLAS status %d %s", op, call, d->base.info.spec,
                    d->base.info.name, (int)s, what);
}

static void *sym(void *lib, const char *name) {
    return dlsym(lib, name);
}

dt_status cu_blas_open(cu_device *d) {
    const char *spec = d->base.info.spec;
    cu_blas *b = calloc(1, sizeof *b);
    if (!b) return dt_error(DT_ERR_OOM, "%s: cannot allocate the cuBLAS state", spec);
    d->blas = b;
    b->lib = dlopen(CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
#ifdef DISTRO_CUBLAS_DIR
    if (!b->lib) b->lib = dlopen(DISTRO_CUBLAS_DIR "/" CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
#endif
    if (!b->lib)
        return dt_error(DT_ERR_UNAVAILABLE,
                        "%s: cannot load cuBLAS (%s): %s; install the CUDA %d toolkit's cuBLAS "
                        "or put its lib64 folder on LD_LIBRARY_PATH",
                        spec, CUBLAS_SONAME, dlerror(), CUBLAS_VER_MAJOR);
    create_fn create = (create_fn)sym(b->lib, "cublasCreate_v2");
    set_stream_fn set_stream = (set_stream_fn)sym(b->lib, "cublasSetStream_v2");
    set_math_fn set_math = (set_math_fn)sym(b->lib, "cublasSetMathMode");
    b->destroy = (destroy_fn)sym(b->lib, "cublasDestroy_v2");
    b->status_string = (status_string_fn)sym(b->lib, "cublasGetStatusString");
    b->sgemm = (sgemm_sb_fn)sym(b->lib, "cublasSgemmStridedBatched");
    if (!create || !set_stream || !set_math || !b->destroy || !b->sgemm)
        return dt_error(DT_ERR_UNAVAILABLE, "%s: %s lacks a function distro needs", spec,
                        CUBLAS_SONAME);
    cublasStatus_t s = create(&b->handle);
    if (s != CUBLAS_STATUS_SUCCESS) {
        b->handle = NULL;
        return blas_fail(d, "open", "cublasCreate", s);
    }
    s = set_stream(b->handle, d->stream);
    if (s != CUBLAS_STATUS_SUCCESS) return blas_fail(d, "open", "cublasSetStream", s);
    s = set_math(b->handle, d->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH);
    if (s != CUBLAS_STATUS_SUCCESS) return blas_fail(d, "open", "cublasSetMathMode", s);
    return DT_OK;
}

/* The library stays loaded (no dlclose): it carries its own CUDA runtime,
 * unloading that while the process goes on is not safe, and the next device
 * to open would load its hundreds of megabytes again. */
void cu_blas_close(cu_device *d) {
    cu_blas *b = d->blas;
    if (!b) return;
    if (b->handle && b->destroy) b->destroy(b->handle);
    free(b);
    d->blas = NULL;
}

static int fits_int(int64_t v) {
    return v >= 0 && v <= INT_MAX;
}

dt_status cu_gemm(dt_device *dev, const dt_gemm_desc *g, const dt_tensor *a, const dt_tensor *b,
                  const dt_tensor *c) {
    cu_device *d = cu_dev(dev);
    if (!fits_int(g->m) || !fits_int(g->n) || !fits_int(g->k) || !fits_int(g->lda) ||
        !fits_int(g->ldb) || !fits_int(g->ldc) || !fits_int(g->batch))
        return dt_error(DT_ERR_UNSUPPORTED,
                        "gemm: m=%lld n=%lld k=%lld batch=%lld on %s: cuBLAS takes 32-bit sizes",
                        (long long)g->m, (long long)g->n, (long long)g->k, (long long)g->batch,
                        dev->info.spec);
    if (g->m == 0 || g->n == 0 || g->batch == 0) return DT_OK;
    dt_status st = cu_enter(d, "gemm");
    if (st != DT_OK) return st;
    /* With k = 0 a packed leading dimension is 0, which cuBLAS refuses
     * (it wants >= 1); it then only scales C by beta, never reading C when
     * beta == 0, as ops.h requires. */
    const int lda = g->lda ? (int)g->lda : 1, ldb = g->ldb ? (int)g->ldb : 1,
              ldc = g->ldc ? (int)g->ldc : 1;
    cublasStatus_t s = d->blas->sgemm(d->blas->handle, g->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                      g->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)g->n, (int)g->m,
                                      (int)g->k, &g->alpha, cu_f32(b), ldb, (long long)g->stride_b,
                                      cu_f32(a), lda, (long long)g->stride_a, &g->beta, cu_f32(c),
                                      ldc, (long long)g->stride_c, (int)g->batch);
    if (s != CUBLAS_STATUS_SUCCESS) return blas_fail(d, "gemm", "cublasSgemmStridedBatched", s);
    return DT_OK;
}
