/* CPU GEMM: CBLAS (OpenBLAS) or the own blocked kernel, per device, both
 * run as independent pieces of C, one per thread of the OpenMP team.
 *
 * One thread pool only. OpenBLAS's pthread build keeps its own workers
 * spinning after each call, and OpenMP's workers spin after each parallel
 * region; on a machine with as many threads as cores the two pools steal
 * each other's cores and both halve (measured on 2 cores: 89 instead of 175
 * GFLOP/s for GEMM, elementwise ops several times slower). So OpenBLAS is
 * told to run single-threaded (cpu_gemm_init) and the team splits every
 * GEMM, one cblas_sgemm per piece. The own kernel is split the same way (as
 * fast as sharing its packed B between threads, measured, and without any
 * barrier inside a GEMM).
 *
 * The rule, then: cblas_sgemm runs only with OpenBLAS set to one thread,
 * whether inside the team's parallel region or on the calling thread. The
 * count is set when a device opens and checked again before every parallel
 * region (outside it: openblas_set_num_threads is not meant to race with
 * calls), since other code in the process may have raised it.
 *
 * Which path a device uses is chosen in cpu_gemm_select.c (measured).
 *
 * Bits: the own kernel gives the same result for any thread count. OpenBLAS
 * pieces of different shapes may use different edge kernels, so with the
 * CBLAS path the bits of some shapes depend on the thread count (same
 * machine, same thread count: same bits).
 *
 * beta == 0: the BLAS standard says C "need not be set on input" then, and
 * OpenBLAS 0.3.21 indeed overwrites NaN in C for every transpose, alpha = 0
 * and its small-matrix path (checked with a scratch program), so no guard is
 * needed; the own kernel never reads C then. */
#ifdef _OPENMP
#include <omp.h>
#endif

#include "backends/cpu/cpu_backend.h"
#include "distro_config.h"

#if DISTRO_HAVE_CBLAS
#include <cblas.h>
#endif

/* Below this many flops a GEMM runs on the calling thread: waking the team
 * costs more than it saves. */
#define GEMM_PARALLEL_FLOPS (1 << 20)

static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void cpu_gemm_init(void) {
#if DISTRO_HAVE_CBLAS
    openblas_set_num_threads(1);
#endif
}

/* One piece of one batch item: rows [lo, hi) of C (split_rows) or columns
 * [lo, hi), computed on the calling thread by CBLAS or the own kernel. */
static void gemm_piece(cpu_gemm_path path, const dt_gemm_desc *d, const float *a, const float *b,
                       float *c, int split_rows, int64_t lo, int64_t hi) {
    if (hi <= lo) return;
    int64_t m = d->m, n = d->n;
    if (split_rows) {
        /* Rows of op(A) are rows of A, or columns when A is transposed. */
        a += d->trans_a ? lo : lo * d->lda;
        c += lo * d->ldc;
        m = hi - lo;
    } else {
        b += d->trans_b ? lo * d->ldb : lo;
        c += lo;
        n = hi - lo;
    }
#if DISTRO_HAVE_CBLAS
    if (path == CPU_GEMM_BLAS) {
        cblas_sgemm(CblasRowMajor, d->trans_a ? CblasTrans : CblasNoTrans,
                    d->trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)d->k, d->alpha, a,
                    (int)d->lda, b, (int)d->ldb, d->beta, c, (int)d->ldc);
        return;
    }
#endif
    (void)path;
    cpu_gemm_blocked(d->trans_a, d->trans_b, m, n, d->k, d->alpha, a, d->lda, b, d->ldb, d->beta, c,
                     d->ldc);
}

/* Every GEMM becomes independent pieces of C, one per thread: each batch item
 * is cut into as many pieces as it takes to give every thread work, along
 * the longer side of C, at multiples of 16 so every piece keeps full
 * register tiles. No piece waits for another (no barrier inside a GEMM), so
 * a thread the OS delays holds up only its own piece. */
void cpu_gemm_host(cpu_gemm_path path, const dt_gemm_desc *d, const float *a, const float *b,
                   float *c) {
#if DISTRO_HAVE_CBLAS
    if (path == CPU_GEMM_BLAS && openblas_get_num_threads() != 1) openblas_set_num_threads(1);
#endif
    const double flops = 2.0 * (double)d->m * (double)d->n * (double)d->k * (double)d->batch;
    const int threads = flops < GEMM_PARALLEL_FLOPS ? 1 : max_threads();
    const int64_t parts = d->batch >= threads ? 1 : (threads + d->batch - 1) / d->batch;
    const int split_rows = d->m >= d->n;
    const int64_t len = split_rows ? d->m : d->n;
    const int64_t pieces = d->batch * parts;
#pragma omp parallel for schedule(static) if (threads > 1 && pieces > 1)
    for (int64_t p = 0; p < pieces; p++) {
        const int64_t item = p / parts, part = p % parts;
        int64_t lo = (len * part / parts) / 16 * 16, hi = (len * (part + 1) / parts) / 16 * 16;
        if (part == parts - 1) hi = len;
        gemm_piece(path, d, a + item * d->stride_a, b + item * d->stride_b, c + item * d->stride_c,
                   split_rows, lo, hi);
    }
}

dt_status cpu_gemm(dt_device *dev, const dt_gemm_desc *d, const dt_tensor *a, const dt_tensor *b,
                   const dt_tensor *c) {
#if DISTRO_HAVE_CBLAS
    if (((cpu_device *)dev)->gemm_path == CPU_GEMM_BLAS) {
        /* CBLAS takes int sizes. */
        const int64_t big = 2147483647;
        if (d->m > big || d->n > big || d->k > big || d->lda > big || d->ldb > big || d->ldc > big)
            return dt_error(DT_ERR_UNSUPPORTED,
                            "gemm: m, n, k = %lld, %lld, %lld or a row stride exceed the int "
                            "range of CBLAS on %s (cpu:gemm=own has no such limit)",
                            (long long)d->m, (long long)d->n, (long long)d->k, dev->info.spec);
    }
#endif
    cpu_gemm_host(((cpu_device *)dev)->gemm_path, d, cpu_f32(a), cpu_f32(b), cpu_f32(c));
    return DT_OK;
}
