/* Before a device's canonical DeMo update is trusted, it must reproduce the
 * host reference bit for bit, under both update rules, on problems built to
 * expose the usual ways a driver breaks exactness:
 * - contraction traps: two products that cancel exactly when each is rounded
 *   on its own, but leave 2^-24 when a driver fuses them into an FMA despite
 *   FP_CONTRACT OFF (one trap per IDCT stage, and one for the final
 *   W * decay - lr * X, which only the scaled rule can fuse both ways); the
 *   sign step turns an IDCT trap into a visible change of W, the scaled step
 *   carries it into W unchanged;
 * - a random problem with several contributors, shared slots and an
 *   out-of-range index, against dt_demo_apply_host; under the scaled rule W
 *   is small next to lr * X, so that nearly every bit of X reaches W (sign
 *   hides all but the sign of X).
 * A device that fails runs the op on the host (info.canonical_on_host). */
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/opencl_backend.h"

typedef struct apply_case {
    dt_tile_plan plan;
    int64_t k, n_contrib;
    int32_t *idx;
    float *vals, *recip, *f1, *f2, *w;
    float lr, decay;
    dt_demo_update update;
} apply_case;

/* Uploads one array into a fresh buffer; *view describes it. */
static dt_status upload_array(ocl_device *d, const void *data, int64_t n, dt_dtype type,
                              dt_buffer **buf, dt_tensor *view) {
    OCL_TRY(dt_buffer_alloc(&d->base, (size_t)n * 4, buf));
    *view = dt_tensor_1d(*buf, 0, type, n);
    return ocl_upload(*buf, 0, data, (size_t)n * 4);
}

static dt_status run_case(ocl_device *d, const apply_case *c, int *exact) {
    const dt_tile_plan *p = &c->plan;
    int64_t n_sparse = c->n_contrib * p->n_tiles * c->k, n_w = p->rows * p->cols;
    float *expect = malloc((size_t)n_w * sizeof(float) * 2);
    if (!expect) return dt_error(DT_ERR_OOM, "demo_apply self-test: out of host memory");
    float *got = expect + n_w;
    memcpy(expect, c->w, (size_t)n_w * sizeof(float));
    dt_status st = dt_demo_apply_host(p, c->idx, c->vals, c->k, c->n_contrib, c->recip, c->f1,
                                      c->f2, expect, c->lr, c->decay, c->update);
    dt_buffer *bufs[6] = {0};
    dt_tensor t[6];
    if (st == DT_OK) st = upload_array(d, c->idx, n_sparse, DT_I32, &bufs[0], &t[0]);
    if (st == DT_OK) st = upload_array(d, c->vals, n_sparse, DT_F32, &bufs[1], &t[1]);
    if (st == DT_OK) st = upload_array(d, c->recip, c->n_contrib + 1, DT_F32, &bufs[2], &t[2]);
    if (st == DT_OK)
        st = upload_array(d, c->f1, p->tile_rows * p->tile_rows, DT_F32, &bufs[3], &t[3]);
    if (st == DT_OK)
        st = upload_array(d, c->f2, p->tile_cols * p->tile_cols, DT_F32, &bufs[4], &t[4]);
    if (st == DT_OK) st = upload_array(d, c->w, n_w, DT_F32, &bufs[5], &t[5]);
    if (st == DT_OK)
        st = ocl_demo_apply(&d->base, p, &t[0], &t[1], c->k, c->n_contrib, &t[2], &t[3], &t[4],
                            &t[5], c->lr, c->decay, c->update);
    if (st == DT_OK) st = ocl_download(bufs[5], 0, got, (size_t)n_w * sizeof(float));
    if (st == DT_OK && memcmp(expect, got, (size_t)n_w * sizeof(float)) != 0) *exact = 0;
    for (int i = 0; i < 6; i++) dt_buffer_free(bufs[i]);
    free(expect);
    if (st != DT_OK) dt_error_wrap(st, "demo_apply self-test on %s: ", d->base.info.spec);
    return st;
}

/* The traps hold under either rule: run both. */
static dt_status run_both_rules(ocl_device *d, apply_case *c, int *exact) {
    c->update = DT_DEMO_UPDATE_SIGN;
    OCL_TRY(run_case(d, c, exact));
    c->update = DT_DEMO_UPDATE_SCALED;
    return run_case(d, c, exact);
}

/* 1 + 2^-12 squared is 1 + 2^-11 + 2^-24, which rounds (to even) to
 * 1 + 2^-11; so (-(1 + 2^-11)) * 1 + (1 + 2^-12) * (1 + 2^-12) is exactly 0
 * with separate roundings and 2^-24 with a fused multiply-add. */
#define TRAP_A (-(1.0f + 0x1p-11f))
#define TRAP_B (1.0f + 0x1p-12f)

/* First IDCT stage: a 2 x 2 tile, F1 row 0 = (1, 1+2^-12), F2 = identity.
 * lr = 1 so that the scaled rule's 0.5 - 2^-24 is representable (with a
 * smaller lr the trap's 2^-24 would round away against W = 0.5). */
static dt_status trap_rows(ocl_device *d, int *exact) {
    int32_t idx[2] = {0, 2}; /* A[0][0] and A[1][0] */
    float vals[2] = {TRAP_A, TRAP_B}, recip[2] = {0.0f, 1.0f};
    float f1[4] = {1.0f, TRAP_B, 0.0f, 0.0f}, f2[4] = {1.0f, 0.0f, 0.0f, 1.0f};
    float w[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    apply_case c = {.k = 2,
                    .n_contrib = 1,
                    .idx = idx,
                    .vals = vals,
                    .recip = recip,
                    .f1 = f1,
                    .f2 = f2,
                    .w = w,
                    .lr = 1.0f,
                    .decay = 1.0f};
    OCL_TRY(dt_demo_tile_plan(2, (int64_t[]){2, 2}, 2, &c.plan));
    return run_both_rules(d, &c, exact);
}

/* Second stage: a 1-D segment of 2, F2 row 0 = (1, 1+2^-12); lr as above. */
static dt_status trap_cols(ocl_device *d, int *exact) {
    int32_t idx[2] = {0, 1};
    float vals[2] = {TRAP_A, TRAP_B}, recip[2] = {0.0f, 1.0f};
    float f1[1] = {1.0f}, f2[4] = {1.0f, TRAP_B, 0.0f, 0.0f};
    float w[2] = {0.5f, 0.5f};
    apply_case c = {.k = 2,
                    .n_contrib = 1,
                    .idx = idx,
                    .vals = vals,
                    .recip = recip,
                    .f1 = f1,
                    .f2 = f2,
                    .w = w,
                    .lr = 1.0f,
                    .decay = 1.0f};
    OCL_TRY(dt_demo_tile_plan(1, (int64_t[]){2}, 2, &c.plan));
    return run_both_rules(d, &c, exact);
}

/* The final step: X = (1+2^-12, 0) and W = decay = lr = 1+2^-12, so W * decay
 * and lr * X both round to 1 + 2^-11 and W becomes exactly 0 under the
 * scaled rule; fma(-lr, X, W * decay) leaves -2^-24, fma(W, decay, -lr * X)
 * +2^-24. Under the sign rule the second fusion shows as well (2^-12 + 2^-24
 * instead of 2^-12). */
static dt_status trap_step(ocl_device *d, int *exact) {
    int32_t idx[1] = {0};
    float vals[1] = {TRAP_B}, recip[2] = {0.0f, 1.0f};
    float f1[1] = {1.0f}, f2[4] = {1.0f, 0.0f, 0.0f, 1.0f};
    float w[2] = {TRAP_B, TRAP_B};
    apply_case c = {.k = 1,
                    .n_contrib = 1,
                    .idx = idx,
                    .vals = vals,
                    .recip = recip,
                    .f1 = f1,
                    .f2 = f2,
                    .w = w,
                    .lr = TRAP_B,
                    .decay = TRAP_B};
    OCL_TRY(dt_demo_tile_plan(1, (int64_t[]){2}, 2, &c.plan));
    return run_both_rules(d, &c, exact);
}

static uint32_t lcg_next(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}
static float lcg_float(uint32_t *s) {
    return (float)lcg_next(s) / 8388608.0f * 2.0f - 1.0f;
}

/* 12 x 20 in 6 x 5 tiles, 3 contributors of 7 distinct indices per tile.
 * X is some 1e-4 to 1e-3; under the scaled rule W starts no larger and lr
 * is near 1, so W's low bits come from X's. */
static dt_status random_case(ocl_device *d, dt_demo_update update, int *exact) {
    enum { ROWS = 12, COLS = 20, N1 = 6, N2 = 5, TILES = 8, K = 7, C = 3 };
    int32_t idx[C * TILES * K];
    float vals[C * TILES * K], recip[C + 1], f1[N1 * N1], f2[N2 * N2], w[ROWS * COLS];
    uint32_t seed = 12345;
    for (int i = 0; i < C * TILES; i++) {
        int32_t perm[N1 * N2];
        for (int j = 0; j < N1 * N2; j++) perm[j] = j;
        for (int j = 0; j < K; j++) { /* partial Fisher-Yates: distinct slots */
            int r = j + (int)(lcg_next(&seed) % (uint32_t)(N1 * N2 - j));
            int32_t tmp = perm[j];
            perm[j] = perm[r];
            perm[r] = tmp;
            idx[i * K + j] = perm[j];
            vals[i * K + j] = lcg_float(&seed) * 1e-3f;
        }
    }
    idx[5] = N1 * N2 + 3; /* out of range: skipped by every implementation */
    const int scaled = update == DT_DEMO_UPDATE_SCALED;
    for (int i = 0; i < ROWS * COLS; i++) w[i] = lcg_float(&seed) * (scaled ? 1e-3f : 0.05f);
    dt_recip_table(C, recip);
    dt_dct_basis(N1, f1);
    dt_dct_basis(N2, f2);
    apply_case c = {.k = K,
                    .n_contrib = C,
                    .idx = idx,
                    .vals = vals,
                    .recip = recip,
                    .f1 = f1,
                    .f2 = f2,
                    .w = w,
                    .lr = scaled ? 0.7f : 3e-3f,
                    .decay = 0.9997f,
                    .update = update};
    OCL_TRY(dt_demo_tile_plan(2, (int64_t[]){ROWS, COLS}, 8, &c.plan));
    return run_case(d, &c, exact);
}

dt_status ocl_demo_apply_selftest(ocl_device *d, int *exact) {
    *exact = 1;
    OCL_TRY(trap_rows(d, exact));
    OCL_TRY(trap_cols(d, exact));
    OCL_TRY(trap_step(d, exact));
    OCL_TRY(random_case(d, DT_DEMO_UPDATE_SIGN, exact));
    return random_case(d, DT_DEMO_UPDATE_SCALED, exact);
}
