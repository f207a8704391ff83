/* The canonical aggregate-decode-sign-apply, in float, written from
 * DESIGN.md section 4 (not from runtime/demo_apply_host.c). Compiled with
 * -ffp-contract=off: each product and each sum is a separate rounding, in
 * the order the design states, so this file defines the expected bits.
 * `volatile` temporaries are not needed for that; the flag is. */
#include <stdlib.h>

#include "tests/ref_ops.h"

void ref_demo_apply_f(const dt_tile_plan *plan, const int32_t *idx, const float *vals, int64_t k,
                      int64_t n_contrib, const float *recip, const float *f1, const float *f2,
                      float *w, float lr, float decay) {
    const int64_t n1 = plan->tile_rows, n2 = plan->tile_cols, S = plan->tile_size;
    float *acc = malloc(sizeof(float) * (size_t)S * 2);
    int32_t *cnt = malloc(sizeof(int32_t) * (size_t)S);
    if (!acc || !cnt) abort();
    float *y = acc + S;
    for (int64_t t = 0; t < plan->n_tiles; t++) {
        for (int64_t i = 0; i < S; i++) {
            acc[i] = 0.0f;
            cnt[i] = 0;
        }
        /* Contributions in ascending peer id, entries in stored order. */
        for (int64_t c = 0; c < n_contrib; c++) {
            const int64_t base = (c * plan->n_tiles + t) * k;
            for (int64_t e = 0; e < k; e++) {
                const int32_t i = idx[base + e];
                if (i < 0 || i >= S) continue;
                acc[i] += vals[base + e];
                cnt[i] += 1;
            }
        }
        /* The mean over the contributors that chose the slot, through the
         * host-computed reciprocal table (no device division). */
        for (int64_t i = 0; i < S; i++) acc[i] = acc[i] * recip[cnt[i]];

        /* Y[h][b] = sum_a F1[h][a] A[a][b], from 0.0f, ascending a. */
        for (int64_t h = 0; h < n1; h++)
            for (int64_t b = 0; b < n2; b++) {
                float s = 0.0f;
                for (int64_t a = 0; a < n1; a++) {
                    const float prod = f1[h * n1 + a] * acc[a * n2 + b];
                    s = s + prod;
                }
                y[h * n2 + b] = s;
            }
        /* X[h][x] = sum_b Y[h][b] F2[x][b], from 0.0f, ascending b; then
         * sign (sign(0) = 0) and W = (W * decay) - (lr * s). */
        const int64_t r0 = (t / plan->tiles_per_row) * n1;
        const int64_t c0 = (t % plan->tiles_per_row) * n2;
        for (int64_t h = 0; h < n1; h++)
            for (int64_t x = 0; x < n2; x++) {
                float s = 0.0f;
                for (int64_t b = 0; b < n2; b++) {
                    const float prod = y[h * n2 + b] * f2[x * n2 + b];
                    s = s + prod;
                }
                const float sg = s > 0.0f ? 1.0f : s < 0.0f ? -1.0f : 0.0f;
                float *wp = &w[(r0 + h) * plan->cols + c0 + x];
                const float kept = *wp * decay;
                const float step = lr * sg;
                *wp = kept - step;
            }
    }
    free(acc);
    free(cnt);
}
