/* The canonical aggregate-decode-apply, in float, under both update rules,
 * written from DESIGN.md section 4 (not from runtime/demo_apply_host.c).
 * Compiled with -ffp-contract=off: each product and each sum is a separate
 * rounding, in the order the design states, so this file defines the
 * expected bits.
 *
 * It also computes a few plausible-but-wrong variants (fused multiply-add in
 * the sums or in the final step, wider accumulators, another summation
 * order, division instead of the reciprocal table, contributions in another
 * order). The knife-edge test cases use them to prove that their data would
 * expose each deviation. */
#include <math.h>
#include <stdlib.h>

#include "tests/ref_ops.h"

/* sum_{i < n} x[i * sx] * y[i * sy], the way `variant` says. */
static float dot_f(const float *x, int64_t sx, const float *y, int64_t sy, int64_t n, int variant) {
    if (variant == REF_APPLY_WIDE) {
        double s = 0.0;
        for (int64_t i = 0; i < n; i++) s += (double)x[i * sx] * (double)y[i * sy];
        return (float)s;
    }
    float s = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        const int64_t i = variant == REF_APPLY_DESCENDING ? n - 1 - j : j;
        if (variant == REF_APPLY_FMA) {
            s = fmaf(x[i * sx], y[i * sy], s);
        } else {
            const float prod = x[i * sx] * y[i * sy];
            s = s + prod;
        }
    }
    return s;
}

void ref_demo_apply_variant(const dt_tile_plan *plan, const int32_t *idx, const float *vals,
                            int64_t k, int64_t n_contrib, const float *recip, const float *f1,
                            const float *f2, float *w, float lr, float decay, dt_demo_update update,
                            int variant) {
    const int64_t n1 = plan->tile_rows, n2 = plan->tile_cols, S = plan->tile_size;
    float *acc = malloc(sizeof(float) * (size_t)S * 2);
    int32_t *cnt = malloc(sizeof(int32_t) * (size_t)S);
    double *wide = malloc(sizeof(double) * (size_t)S);
    if (!acc || !cnt || !wide) abort();
    float *y = acc + S;
    for (int64_t t = 0; t < plan->n_tiles; t++) {
        for (int64_t i = 0; i < S; i++) {
            acc[i] = 0.0f;
            cnt[i] = 0;
            wide[i] = 0.0;
        }
        /* Contributions in ascending peer id, entries in stored order. */
        for (int64_t cc = 0; cc < n_contrib; cc++) {
            const int64_t c = variant == REF_APPLY_REVERSED ? n_contrib - 1 - cc : cc;
            const int64_t base = (c * plan->n_tiles + t) * k;
            for (int64_t e = 0; e < k; e++) {
                const int32_t i = idx[base + e];
                if (i < 0 || i >= S) continue;
                acc[i] += vals[base + e];
                wide[i] += (double)vals[base + e];
                cnt[i] += 1;
            }
        }
        if (variant == REF_APPLY_WIDE)
            for (int64_t i = 0; i < S; i++) acc[i] = (float)wide[i];
        /* The mean over the contributors that chose the slot, through the
         * host-computed reciprocal table (no device division). */
        for (int64_t i = 0; i < S; i++)
            acc[i] = variant == REF_APPLY_DIVIDE ? (cnt[i] ? acc[i] / (float)cnt[i] : 0.0f)
                                                 : acc[i] * recip[cnt[i]];

        /* Y[h][b] = sum_a F1[h][a] A[a][b], from 0.0f, ascending a. */
        for (int64_t h = 0; h < n1; h++)
            for (int64_t b = 0; b < n2; b++)
                y[h * n2 + b] = dot_f(f1 + h * n1, 1, acc + b, n2, n1, variant);
        /* X[h][x] = sum_b Y[h][b] F2[x][b], from 0.0f, ascending b; then
         * s = sign(X) (sign(0) = 0) for the sign rule or s = X for the
         * scaled one, and W = (W * decay) - (lr * s), each product rounded
         * before the subtraction. */
        const int64_t r0 = (t / plan->tiles_per_row) * n1;
        const int64_t c0 = (t % plan->tiles_per_row) * n2;
        for (int64_t h = 0; h < n1; h++)
            for (int64_t x = 0; x < n2; x++) {
                const float xv = dot_f(y + h * n2, 1, f2 + x * n2, 1, n2, variant);
                float s = xv;
                if (update != DT_DEMO_UPDATE_SCALED)
                    s = xv > 0.0f ? 1.0f : xv < 0.0f ? -1.0f : 0.0f;
                float *wp = &w[(r0 + h) * plan->cols + c0 + x];
                const float kept = *wp * decay;
                const float step = lr * s;
                if (variant == REF_APPLY_FMA_DECAY)
                    *wp = fmaf(*wp, decay, -step);
                else if (variant == REF_APPLY_FMA_STEP)
                    *wp = fmaf(-lr, s, kept);
                else
                    *wp = kept - step;
            }
    }
    free(acc);
    free(cnt);
    free(wide);
}

void ref_demo_apply_f(const dt_tile_plan *plan, const int32_t *idx, const float *vals, int64_t k,
                      int64_t n_contrib, const float *recip, const float *f1, const float *f2,
                      float *w, float lr, float decay, dt_demo_update update) {
    ref_demo_apply_variant(plan, idx, vals, k, n_contrib, recip, f1, f2, w, lr, decay, update,
                           REF_APPLY_EXACT);
}
