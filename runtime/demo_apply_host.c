/* The canonical aggregate-decode-sign-apply of DESIGN.md section 4, on host
 * memory. This file is compiled with -ffp-contract=off: every product and
 * every sum below is rounded on its own, in the order written, because the
 * bits it produces are the bits every replica on every vendor must produce.
 *
 * The loops run with the output index innermost (across b, then across w),
 * so each output still starts at 0.0f and adds one rounded product at a time
 * in ascending a (then b), exactly as specified, while the compiler may
 * vectorise across independent outputs. Tiles are independent, so they may
 * run on any number of threads. */
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "distro/ops.h"

typedef struct tile_scratch {
    float *acc;   /* S: sums, then the mean A */
    int32_t *cnt; /* S */
    float *y;     /* S: Y = F1 A */
    float *x;     /* tile_cols: one row of X */
} tile_scratch;

static void apply_tile(const dt_tile_plan *plan, int64_t t, const int32_t *idx, const float *vals,
                       int64_t k, int64_t n_contrib, const float *recip, const float *f1,
                       const float *f2t, float *w, float lr, float decay, dt_demo_update update,
                       const tile_scratch *s) {
    const int64_t S = plan->tile_size, n1 = plan->tile_rows, n2 = plan->tile_cols;
    float *acc = s->acc, *y = s->y, *x = s->x;
    int32_t *cnt = s->cnt;
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
        float *yrow = y + h * n2;
        for (int64_t b = 0; b < n2; b++) yrow[b] = 0.0f;
        for (int64_t a = 0; a < n1; a++) {
            const float f = f1[h * n1 + a];
            const float *arow = acc + a * n2;
            for (int64_t b = 0; b < n2; b++) {
                float prod = f * arow[b];
                yrow[b] = yrow[b] + prod;
            }
        }
    }
    /* X[h][w] = sum_b Y[h][b] * F2[w][b], then the step on W (by sign(X) or X). */
    const int64_t r0 = (t / plan->tiles_per_row) * n1;
    const int64_t c0 = (t % plan->tiles_per_row) * n2;
    for (int64_t h = 0; h < n1; h++) {
        const float *yrow = y + h * n2;
        for (int64_t v = 0; v < n2; v++) x[v] = 0.0f;
        for (int64_t b = 0; b < n2; b++) {
            const float yb = yrow[b];
            const float *col = f2t + b * n2; /* F2[., b] */
            for (int64_t v = 0; v < n2; v++) {
                float prod = yb * col[v];
                x[v] = x[v] + prod;
            }
        }
        float *wrow = w + (r0 + h) * plan->cols + c0;
        for (int64_t v = 0; v < n2; v++) {
            float sgn = x[v];
            if (update == DT_DEMO_UPDATE_SIGN)
                sgn = x[v] > 0.0f ? 1.0f : (x[v] < 0.0f ? -1.0f : 0.0f);
            float kept = wrow[v] * decay;
            float step = lr * sgn;
            wrow[v] = kept - step;
        }
    }
}

dt_status dt_demo_apply_host(const dt_tile_plan *plan, const int32_t *idx, const float *vals,
                             int64_t k, int64_t n_contrib, const float *recip, const float *f1,
                             const float *f2, float *w, float lr, float decay,
                             dt_demo_update update) {
    const int64_t S = plan->tile_size, n2 = plan->tile_cols;
    const size_t per_thread = (size_t)(3 * S + n2);
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    /* Shared: F2 transposed (read-only). Per thread: acc, cnt, y, one row. */
    size_t floats = (size_t)(n2 * n2) + per_thread * (size_t)threads;
    float *scratch = malloc(floats * sizeof(float));
    if (!scratch)
        return dt_error(DT_ERR_OOM, "demo_apply: cannot allocate %zu bytes of scratch",
                        floats * sizeof(float));
    float *f2t = scratch;
    for (int64_t v = 0; v < n2; v++)
        for (int64_t b = 0; b < n2; b++) f2t[b * n2 + v] = f2[v * n2 + b];
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < plan->n_tiles; t++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *base = scratch + (size_t)(n2 * n2) + (size_t)tid * per_thread;
        tile_scratch s = {base, (int32_t *)(base + S), base + 2 * S, base + 3 * S};
        apply_tile(plan, t, idx, vals, k, n_contrib, recip, f1, f2t, w, lr, decay, update, &s);
    }
    free(scratch);
    return DT_OK;
}
