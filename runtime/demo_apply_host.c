/* The canonical aggregate-decode-sign-apply of DESIGN.md section 4, on host
 * memory. This file is compiled with -ffp-contract=off: every product and
 * every sum below is rounded on its own, in the order written, because the
 * bits it produces are the bits every replica on every vendor must produce.
 * Tiles are independent, so they may run on any number of threads. */
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "distro/ops.h"

static void apply_tile(const dt_tile_plan *plan, int64_t t, const int32_t *idx, const float *vals,
                       int64_t k, int64_t n_contrib, const float *recip, const float *f1,
                       const float *f2, float *w, float lr, float decay, float *acc, int32_t *cnt,
                       float *y) {
    const int64_t S = plan->tile_size, n1 = plan->tile_rows, n2 = plan->tile_cols;
    for (int64_t i = 0; i < S; i++) {
        acc[i] = 0.0f;
        cnt[i] = 0;
    }
    for (int64_t c = 0; c < n_contrib; c++) {
        const int32_t *ci = idx + (c * plan->n_tiles + t) * k;
        const float *cv = vals + (c * plan->n_tiles + t) * k;
        for (int64_t e = 0; e < k; e++) {
            int32_t i = ci[e];
            if (i < 0 || i >= S) continue;
            acc[i] = acc[i] + cv[e];
            cnt[i] = cnt[i] + 1;
        }
    }
    for (int64_t i = 0; i < S; i++) acc[i] = acc[i] * recip[cnt[i]];

    /* Y[h][b] = sum_a F1[h][a] * A[a][b] */
    for (int64_t h = 0; h < n1; h++) {
        for (int64_t b = 0; b < n2; b++) {
            float sum = 0.0f;
            for (int64_t a = 0; a < n1; a++) {
                float prod = f1[h * n1 + a] * acc[a * n2 + b];
                sum = sum + prod;
            }
            y[h * n2 + b] = sum;
        }
    }
    /* X[h][w] = sum_b Y[h][b] * F2[w][b], then the sign step on W. */
    const int64_t r0 = (t / plan->tiles_per_row) * n1;
    const int64_t c0 = (t % plan->tiles_per_row) * n2;
    for (int64_t h = 0; h < n1; h++) {
        float *wrow = w + (r0 + h) * plan->cols + c0;
        for (int64_t x = 0; x < n2; x++) {
            float sum = 0.0f;
            for (int64_t b = 0; b < n2; b++) {
                float prod = y[h * n2 + b] * f2[x * n2 + b];
                sum = sum + prod;
            }
            float s = sum > 0.0f ? 1.0f : (sum < 0.0f ? -1.0f : 0.0f);
            float kept = wrow[x] * decay;
            float step = lr * s;
            wrow[x] = kept - step;
        }
    }
}

dt_status dt_demo_apply_host(const dt_tile_plan *plan, const int32_t *idx, const float *vals,
                             int64_t k, int64_t n_contrib, const float *recip, const float *f1,
                             const float *f2, float *w, float lr, float decay) {
    const int64_t S = plan->tile_size;
    const size_t per_thread = (size_t)S * 3;
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    /* Scratch per thread: acc, y (float) and cnt (int32), S entries each. */
    float *scratch = malloc(per_thread * (size_t)threads * sizeof(float));
    if (!scratch)
        return dt_error(DT_ERR_OOM, "demo_apply: cannot allocate %zu bytes of scratch",
                        per_thread * (size_t)threads * sizeof(float));
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < plan->n_tiles; t++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *acc = scratch + (size_t)tid * per_thread;
        float *y = acc + S;
        int32_t *cnt = (int32_t *)(y + S);
        apply_tile(plan, t, idx, vals, k, n_contrib, recip, f1, f2, w, lr, decay, acc, cnt, y);
    }
    free(scratch);
    return DT_OK;
}
