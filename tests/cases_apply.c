/* The canonical aggregate-decode-apply (DESIGN.md section 4) compared bit
 * for bit, under both update rules: against the float reference
 * (tests/ref_apply.c) in the reference test, against the cpu device in the
 * parity test. Plans with 64 x 64 tiles, odd and 1-wide tiles, 1-D and 3-D
 * tensors; one to five contributors whose indices overlap, are disjoint, are
 * random, or cancel exactly (sign(0) = 0, and X = 0 under the scaled rule);
 * out-of-range indices that must be skipped. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/cases_demo.h"

typedef enum idx_mode { IDX_RANDOM, IDX_OVERLAP, IDX_DISJOINT, IDX_CANCEL } idx_mode;
static const char *idx_mode_name[] = {"random", "overlapping", "disjoint", "cancelling"};
static const char *update_name[] = {"sign", "scaled"};

static int run_apply(tc *c, dt_device *dev, const demo_shape *ds, const dt_tile_plan *p, int64_t k,
                     int64_t n_contrib, const int32_t *idx, const float *vals, const float *recip,
                     const float *f1, const float *f2, float *w, float lr, float decay,
                     dt_demo_update update) {
    gt_set s;
    gs_init(&s, c, dev);
    int64_t sk[3] = {n_contrib, p->n_tiles, k};
    int ii = gs_add(&s, "idx", GT_IN, DT_I32, 3, sk, idx);
    int iv = gs_add(&s, "vals", GT_IN, DT_F32, 3, sk, vals);
    int64_t nr = n_contrib + 1;
    int ir = gs_add(&s, "recip", GT_IN, DT_F32, 1, &nr, recip);
    int i1 = gs_add(&s, "f1", GT_IN, DT_F32, 2, (int64_t[]){p->tile_rows, p->tile_rows}, f1);
    int i2 = gs_add(&s, "f2", GT_IN, DT_F32, 2, (int64_t[]){p->tile_cols, p->tile_cols}, f2);
    int iw = gs_add(&s, "W", GT_INOUT, DT_F32, ds->ndim, ds->shape, w);
    if (s.ok)
        gs_call(&s,
                dt_demo_apply(dev, p, gs_t(&s, ii), gs_t(&s, iv), n_contrib, gs_t(&s, ir),
                              gs_t(&s, i1), gs_t(&s, i2), gs_t(&s, iw), lr, decay, update),
                "dt_demo_apply");
    gs_read(&s, iw, w);
    return gs_done(&s);
}

/* Indices of every contributor for every tile, [n_contrib, n_tiles, k]. */
static void make_indices(tc *c, const dt_tile_plan *p, int64_t k, int64_t n_contrib, idx_mode m,
                         int32_t *idx) {
    int64_t S = p->tile_size, T = p->n_tiles;
    int32_t *perm = TC_NEW(c, int32_t, S), *pool = TC_NEW(c, int32_t, S);
    /* Overlap: everyone draws from a pool only a little larger than k. */
    int64_t pool_n = k + (k / 4 > 0 ? k / 4 : 1);
    if (pool_n > S) pool_n = S;
    for (int64_t t = 0; t < T; t++) {
        for (int64_t i = 0; i < S; i++) perm[i] = (int32_t)i;
        rng_shuffle_i32(&c->r, perm, (size_t)S);
        for (int64_t ci = 0; ci < n_contrib; ci++) {
            int32_t *dst = idx + (ci * T + t) * k;
            switch (m) {
            case IDX_RANDOM:
                for (int64_t i = 0; i < S; i++) pool[i] = (int32_t)i;
                rng_shuffle_i32(&c->r, pool, (size_t)S);
                memcpy(dst, pool, sizeof(int32_t) * (size_t)k);
                break;
            case IDX_OVERLAP:
                memcpy(pool, perm, sizeof(int32_t) * (size_t)pool_n);
                rng_shuffle_i32(&c->r, pool, (size_t)pool_n);
                memcpy(dst, pool, sizeof(int32_t) * (size_t)k);
                break;
            case IDX_DISJOINT:
                memcpy(dst, perm + ci * k, sizeof(int32_t) * (size_t)k);
                break;
            case IDX_CANCEL:
                /* Odd contributors repeat the previous one's indices in
                 * another stored order; their values are negated below. */
                if (ci % 2 == 0) {
                    for (int64_t i = 0; i < S; i++) pool[i] = (int32_t)i;
                    rng_shuffle_i32(&c->r, pool, (size_t)S);
                    memcpy(dst, pool, sizeof(int32_t) * (size_t)k);
                } else {
                    memcpy(dst, dst - T * k, sizeof(int32_t) * (size_t)k);
                    rng_shuffle_i32(&c->r, dst, (size_t)k);
                }
                break;
            }
        }
    }
}

/* Value of the entry holding index `want` in contributor ci-1's tile. */
static float partner_value(const int32_t *idx, const float *vals, int64_t base, int64_t k,
                           int32_t want) {
    for (int64_t e = 0; e < k; e++)
        if (idx[base + e] == want) return vals[base + e];
    return 0.0f;
}

static void apply_check(tc *c, dt_demo_update u, const demo_shape *ds, int64_t k_div,
                        int64_t n_contrib, idx_mode m, int signs, int bad) {
    dt_tile_plan p;
    float *f1, *f2;
    char sh[128];
    if (!demo_plan(c, ds, &p)) return;
    int64_t S = p.tile_size, T = p.n_tiles;
    if (m == IDX_DISJOINT && n_contrib > S) n_contrib = S;
    int64_t k = S / k_div > 0 ? S / k_div : 1;
    if (m == IDX_DISJOINT && k * n_contrib > S) k = S / n_contrib;
    tc_case(c, "%s k=%lld contributors=%lld %s %s%s, %s rule",
            demo_shape_str(ds, &p, sh, sizeof sh), (long long)k, (long long)n_contrib,
            idx_mode_name[m], signs ? "1-bit values" : "float values",
            bad ? " with out-of-range indices" : "", update_name[u]);
    demo_bases(c, &p, &f1, &f2);
    size_t ns = (size_t)(n_contrib * T * k), nw = (size_t)(p.rows * p.cols);
    int32_t *idx = TC_NEW(c, int32_t, ns);
    make_indices(c, &p, k, n_contrib, m, idx);
    float *vals = TC_NEW(c, float, ns);
    for (size_t i = 0; i < ns; i++)
        vals[i] = signs ? (rng_u64(&c->r) & 1 ? 1.0f : -1.0f) : (float)(rng_sym(&c->r) * 0.02);
    if (m == IDX_CANCEL)
        for (int64_t ci = 1; ci < n_contrib; ci += 2)
            for (int64_t t = 0; t < T; t++) {
                int64_t base = (ci * T + t) * k, prev = ((ci - 1) * T + t) * k;
                for (int64_t e = 0; e < k; e++)
                    vals[base + e] = -partner_value(idx, vals, prev, k, idx[base + e]);
            }
    if (bad) {
        /* Out-of-range entries; cancelling pairs keep cancelling. */
        const int32_t out[] = {-1, (int32_t)S, INT32_MIN, (int32_t)S + 5, -77};
        for (size_t i = 0; i < ns; i += 5) idx[i] = out[(i / 5) % 5];
    }
    float *recip = TC_NEW(c, float, n_contrib + 1);
    dt_recip_table((int)n_contrib, recip);
    /* Sign: a DeMo-sized lr. Scaled: an outer-step lr near 1 and a smaller
     * W, so that more of X's low bits reach W instead of rounding away. */
    const int scaled = u == DT_DEMO_UPDATE_SCALED;
    float lr = (float)((scaled ? 0.5 : 1e-3) * (1.0 + rng_uniform(&c->r)));
    float decay = (float)(1.0 - (double)lr * (scaled ? 1e-4 : 0.1));
    float *w0 = rand_f(c, nw, scaled ? 0.02f : 0.1f), *got = copy_f(c, w0, nw),
          *want = copy_f(c, w0, nw);
    if (!c->ref) {
        ref_demo_apply_f(&p, idx, vals, k, n_contrib, recip, f1, f2, want, lr, decay, u);
        /* The runtime's host fallback must give the same bits as well. */
        float *host = copy_f(c, w0, nw);
        dt_status st =
            dt_demo_apply_host(&p, idx, vals, k, n_contrib, recip, f1, f2, host, lr, decay, u);
        if (!TC_OK(c, st, NULL, "dt_demo_apply_host") ||
            !tc_bits(c, "W from dt_demo_apply_host vs the float reference", host, want, nw))
            return;
    }
    if (!run_apply(c, c->dut, ds, &p, k, n_contrib, idx, vals, recip, f1, f2, got, lr, decay, u))
        return;
    if (c->ref &&
        !run_apply(c, c->ref, ds, &p, k, n_contrib, idx, vals, recip, f1, f2, want, lr, decay, u))
        return;
    if (m == IDX_CANCEL && !bad) {
        /* Everything cancels: A = 0, X = +0, so lr * s = +0 under either
         * rule and W = W * decay exactly. */
        float *wd = TC_NEW(c, float, nw);
        for (size_t i = 0; i < nw; i++) wd[i] = w0[i] * decay;
        if (!tc_bits(c, "W of a cancelling round vs W * decay", got, wd, nw)) return;
    }
    tc_bits(c, "W", got, want, nw);
}

void cases_apply(tc *c) {
    tc_begin_op(c, "demo_apply");
    const dt_demo_update rules[2] = {DT_DEMO_UPDATE_SIGN, DT_DEMO_UPDATE_SCALED};
    for (int r = 0; r < 2; r++) {
        const dt_demo_update u = rules[r];
        for (int i = 0; i < n_demo_shapes; i++) {
            const demo_shape *ds = &demo_shapes[i];
            apply_check(c, u, ds, 8, 1, IDX_RANDOM, 0, 0);
            apply_check(c, u, ds, 4, 3, IDX_OVERLAP, 1, i % 2);
            apply_check(c, u, ds, 8, 5, IDX_DISJOINT, 0, i % 2 == 0);
            apply_check(c, u, ds, 16, 4, IDX_RANDOM, 1, 0);
        }
        apply_check(c, u, &demo_shapes[1], 1, 2, IDX_CANCEL, 0, 0);
        apply_check(c, u, &demo_shapes[4], 1, 4, IDX_CANCEL, 1, 0);
        apply_check(c, u, &demo_shapes[5], 2, 2, IDX_CANCEL, 1, 1);
        apply_check(c, u, &demo_shapes[8], 1, 5, IDX_OVERLAP, 0, 1); /* k = S: every slot */
    }
    tc_end_op(c);
}
