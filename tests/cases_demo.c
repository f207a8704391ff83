/* Checks of the DeMo ops before aggregation: momentum, tile DCT encode,
 * per-tile top-k (exact, with constructed ties) and decode-and-subtract. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/cases_demo.h"

/* 2-D with 64 x 64 tiles, odd tiles from small or prime dimensions (a prime
 * above the chunk gives 1-wide tiles), 1-D segments, a 3-D tensor whose
 * leading dimension is batch, and a small chunk. */
const demo_shape demo_shapes[] = {
    {2, {64, 64, 0}, 64}, {2, {128, 192, 0}, 64}, {2, {21, 65, 0}, 64}, {2, {37, 53, 0}, 64},
    {2, {67, 71, 0}, 64}, {1, {1000, 0, 0}, 64},  {1, {97, 0, 0}, 64},  {1, {60, 0, 0}, 64},
    {3, {2, 48, 40}, 64}, {2, {12, 20, 0}, 5},    {2, {1, 7, 0}, 64},
};
const int n_demo_shapes = (int)(sizeof demo_shapes / sizeof demo_shapes[0]);

int demo_plan(tc *c, const demo_shape *ds, dt_tile_plan *p) {
    dt_status st = dt_demo_tile_plan(ds->ndim, ds->shape, ds->chunk, p);
    return TC_OK(c, st, NULL, "dt_demo_tile_plan");
}

void demo_bases(tc *c, const dt_tile_plan *p, float **f1, float **f2) {
    *f1 = TC_NEW(c, float, p->tile_rows * p->tile_rows);
    *f2 = TC_NEW(c, float, p->tile_cols * p->tile_cols);
    dt_dct_basis(p->tile_rows, *f1);
    dt_dct_basis(p->tile_cols, *f2);
}

const char *demo_shape_str(const demo_shape *ds, const dt_tile_plan *p, char *buf, size_t len) {
    if (ds->ndim == 1)
        snprintf(buf, len, "[%lld] chunk %lld: %lld tiles of %lldx%lld", (long long)ds->shape[0],
                 (long long)ds->chunk, (long long)p->n_tiles, (long long)p->tile_rows,
                 (long long)p->tile_cols);
    else if (ds->ndim == 2)
        snprintf(buf, len, "[%lld, %lld] chunk %lld: %lld tiles of %lldx%lld",
                 (long long)ds->shape[0], (long long)ds->shape[1], (long long)ds->chunk,
                 (long long)p->n_tiles, (long long)p->tile_rows, (long long)p->tile_cols);
    else
        snprintf(buf, len, "[%lld, %lld, %lld] chunk %lld: %lld tiles of %lldx%lld",
                 (long long)ds->shape[0], (long long)ds->shape[1], (long long)ds->shape[2],
                 (long long)ds->chunk, (long long)p->n_tiles, (long long)p->tile_rows,
                 (long long)p->tile_cols);
    return buf;
}

/* Per tile, k distinct in-range indices in random stored order; with
 * `bad`, a few are replaced by distinct out-of-range values. */
void demo_indices(tc *c, int64_t n_tiles, int64_t S, int64_t k, int bad, int32_t *idx) {
    int32_t *perm = TC_NEW(c, int32_t, S);
    for (int64_t t = 0; t < n_tiles; t++) {
        for (int64_t i = 0; i < S; i++) perm[i] = (int32_t)i;
        rng_shuffle_i32(&c->r, perm, (size_t)S);
        memcpy(idx + t * k, perm, sizeof(int32_t) * (size_t)k);
        if (bad) {
            const int32_t out[] = {-1, (int32_t)S, -1000, (int32_t)S + 13, INT32_MAX};
            for (int64_t e = t % 2; e < k; e += 3) idx[t * k + e] = out[(e / 3) % 5];
        }
    }
}

/* ---- momentum ------------------------------------------------------------------ */

static int run_momentum(tc *c, dt_device *dev, int64_t n, float *d, const float *g, float beta,
                        float lr) {
    gt_set s;
    gs_init(&s, c, dev);
    int id = gs_add(&s, "D", GT_INOUT, DT_F32, 1, &n, d);
    int ig = gs_add(&s, "g", GT_IN, DT_F32, 1, &n, g);
    if (s.ok)
        gs_call(&s, dt_demo_momentum(dev, gs_t(&s, id), gs_t(&s, ig), beta, lr),
                "dt_demo_momentum");
    gs_read(&s, id, d);
    return gs_done(&s);
}

static void momentum_check(tc *c, int64_t n, float beta, float lr) {
    tc_case(c, "n=%lld beta=%g lr=%g", (long long)n, (double)beta, (double)lr);
    float *d0 = rand_f(c, (size_t)n, 1.0f), *g = rand_f(c, (size_t)n, 1.0f);
    float *d = copy_f(c, d0, (size_t)n);
    if (!run_momentum(c, c->dut, n, d, g, beta, lr)) return;
    double *want;
    if (c->ref) {
        float *e = copy_f(c, d0, (size_t)n);
        if (!run_momentum(c, c->ref, n, e, g, beta, lr)) return;
        want = widen(c, e, (size_t)n);
    } else {
        want = widen(c, d0, (size_t)n);
        ref_demo_momentum(want, widen(c, g, (size_t)n), n, beta, lr);
    }
    tc_nmse(c, "D", d, want, (size_t)n, c->tol[TOL_ELEM]);
}

/* ---- encode -------------------------------------------------------------------------- */

static int run_encode(tc *c, dt_device *dev, const demo_shape *ds, const dt_tile_plan *p,
                      const float *x, const float *f1, const float *f2, float *coeffs) {
    gt_set s;
    gs_init(&s, c, dev);
    int ix = gs_add(&s, "x", GT_IN, DT_F32, ds->ndim, ds->shape, x);
    int i1 = gs_add(&s, "f1", GT_IN, DT_F32, 2, (int64_t[]){p->tile_rows, p->tile_rows}, f1);
    int i2 = gs_add(&s, "f2", GT_IN, DT_F32, 2, (int64_t[]){p->tile_cols, p->tile_cols}, f2);
    int io = gs_add(&s, "coeffs", GT_OUT, DT_F32, 2, (int64_t[]){p->n_tiles, p->tile_size}, NULL);
    if (s.ok)
        gs_call(&s, dt_demo_encode(dev, p, gs_t(&s, ix), gs_t(&s, i1), gs_t(&s, i2), gs_t(&s, io)),
                "dt_demo_encode");
    gs_read(&s, io, coeffs);
    return gs_done(&s);
}

static void encode_check(tc *c, const demo_shape *ds) {
    dt_tile_plan p;
    float *f1, *f2;
    char sh[128];
    if (!demo_plan(c, ds, &p)) return;
    tc_case(c, "%s", demo_shape_str(ds, &p, sh, sizeof sh));
    demo_bases(c, &p, &f1, &f2);
    size_t n = (size_t)(p.rows * p.cols), nc = (size_t)(p.n_tiles * p.tile_size);
    float *x = rand_f(c, n, 1.0f), *got = TC_NEW(c, float, nc);
    if (!run_encode(c, c->dut, ds, &p, x, f1, f2, got)) return;
    double *want = TC_NEW(c, double, nc);
    if (c->ref) {
        float *e = TC_NEW(c, float, nc);
        if (!run_encode(c, c->ref, ds, &p, x, f1, f2, e)) return;
        f2d(e, want, nc);
    } else {
        ref_demo_encode(&p, widen(c, x, n), widen(c, f1, (size_t)(p.tile_rows * p.tile_rows)),
                        widen(c, f2, (size_t)(p.tile_cols * p.tile_cols)), want);
    }
    tc_nmse(c, "coeffs", got, want, nc, c->tol[TOL_TRANSFORM]);
}

/* ---- top-k ------------------------------------------------------------------------------ */

static int run_topk(tc *c, dt_device *dev, int64_t n_tiles, int64_t S, int64_t k,
                    const float *coeffs, int32_t *idx, float *vals) {
    gt_set s;
    gs_init(&s, c, dev);
    int ic = gs_add(&s, "coeffs", GT_IN, DT_F32, 2, (int64_t[]){n_tiles, S}, coeffs);
    int ii = gs_add(&s, "idx", GT_OUT, DT_I32, 2, (int64_t[]){n_tiles, k}, NULL);
    int iv = gs_add(&s, "vals", GT_OUT, DT_F32, 2, (int64_t[]){n_tiles, k}, NULL);
    if (s.ok)
        gs_call(&s, dt_demo_topk(dev, gs_t(&s, ic), k, gs_t(&s, ii), gs_t(&s, iv)), "dt_demo_topk");
    gs_read(&s, ii, idx);
    gs_read(&s, iv, vals);
    return gs_done(&s);
}

/* Coefficients whose ranking is known: distinct random magnitudes with
 * random signs, then deliberate ties. Tile t % 4 picks the flavour:
 *  0: a tie straddling the k boundary (the lower index must win);
 *  1: pairs of equal magnitude and opposite sign everywhere;
 *  2: only k/2 non-zeros, the rest +0 and -0 (zeros chosen by index);
 *  3: all magnitudes equal (the first k indices win). */
static void topk_coeffs(tc *c, int64_t n_tiles, int64_t S, int64_t k, float *x) {
    float *sorted = TC_NEW(c, float, S);
    int32_t *order = TC_NEW(c, int32_t, S);
    for (int64_t t = 0; t < n_tiles; t++) {
        float *xt = x + t * S;
        for (int64_t i = 0; i < S; i++) order[i] = (int32_t)i;
        rng_shuffle_i32(&c->r, order, (size_t)S);
        /* Distinct magnitudes: rank r gets 1 + r/S plus jitter below the gap. */
        for (int64_t r = 0; r < S; r++) {
            double mag = 1.0 + (double)r / (double)S + 0.2 * rng_uniform(&c->r) / (double)S;
            sorted[r] = (float)mag;
            xt[order[r]] = rng_u64(&c->r) & 1 ? -(float)mag : (float)mag;
        }
        switch (t % 4) {
        case 0:
            if (k < S) {
                /* ranks are ascending in magnitude: rank S-k is the k-th largest */
                int32_t in = order[S - k], out = order[S - k - 1];
                xt[out] = copysignf(fabsf(xt[in]), rng_u64(&c->r) & 1 ? -1.0f : 1.0f);
            }
            break;
        case 1:
            for (int64_t r = 0; r + 1 < S; r += 2) xt[order[r + 1]] = -xt[order[r]];
            break;
        case 2:
            for (int64_t r = 0; r < S - k / 2; r++) xt[order[r]] = r % 2 ? -0.0f : 0.0f;
            break;
        default:
            for (int64_t i = 0; i < S; i++) xt[i] = i % 3 ? 0.5f : -0.5f;
        }
    }
}

static void topk_check(tc *c, int64_t n_tiles, int64_t S, int64_t k) {
    tc_case(c, "n_tiles=%lld S=%lld k=%lld", (long long)n_tiles, (long long)S, (long long)k);
    size_t nc = (size_t)(n_tiles * S), nk = (size_t)(n_tiles * k);
    float *x = TC_NEW(c, float, nc);
    topk_coeffs(c, n_tiles, S, k, x);
    int32_t *idx = TC_NEW(c, int32_t, nk), *widx = TC_NEW(c, int32_t, nk);
    float *vals = TC_NEW(c, float, nk), *wvals = TC_NEW(c, float, nk);
    if (!run_topk(c, c->dut, n_tiles, S, k, x, idx, vals)) return;
    if (c->ref) {
        if (!run_topk(c, c->ref, n_tiles, S, k, x, widx, wvals)) return;
    } else {
        ref_demo_topk(x, n_tiles, S, k, widx, wvals);
    }
    if (tc_bits(c, "idx", idx, widx, nk)) tc_bits(c, "vals", vals, wvals, nk);
}

/* ---- decode-and-subtract ----------------------------------------------------------------- */

static int run_decode(tc *c, dt_device *dev, const demo_shape *ds, const dt_tile_plan *p, int64_t k,
                      const int32_t *idx, const float *vals, const float *f1, const float *f2,
                      float *d) {
    gt_set s;
    gs_init(&s, c, dev);
    int64_t sk[2] = {p->n_tiles, k};
    int ii = gs_add(&s, "idx", GT_IN, DT_I32, 2, sk, idx);
    int iv = gs_add(&s, "vals", GT_IN, DT_F32, 2, sk, vals);
    int i1 = gs_add(&s, "f1", GT_IN, DT_F32, 2, (int64_t[]){p->tile_rows, p->tile_rows}, f1);
    int i2 = gs_add(&s, "f2", GT_IN, DT_F32, 2, (int64_t[]){p->tile_cols, p->tile_cols}, f2);
    int id = gs_add(&s, "D", GT_INOUT, DT_F32, ds->ndim, ds->shape, d);
    if (s.ok)
        gs_call(&s,
                dt_demo_decode_sub(dev, p, gs_t(&s, ii), gs_t(&s, iv), gs_t(&s, i1), gs_t(&s, i2),
                                   gs_t(&s, id)),
                "dt_demo_decode_sub");
    gs_read(&s, id, d);
    return gs_done(&s);
}

static void decode_check(tc *c, const demo_shape *ds, int64_t k_div, int bad) {
    dt_tile_plan p;
    float *f1, *f2;
    char sh[128];
    if (!demo_plan(c, ds, &p)) return;
    int64_t k = p.tile_size / k_div > 0 ? p.tile_size / k_div : 1;
    tc_case(c, "%s k=%lld%s", demo_shape_str(ds, &p, sh, sizeof sh), (long long)k,
            bad ? " with out-of-range indices" : "");
    demo_bases(c, &p, &f1, &f2);
    size_t n = (size_t)(p.rows * p.cols), nk = (size_t)(p.n_tiles * k);
    int32_t *idx = TC_NEW(c, int32_t, nk);
    demo_indices(c, p.n_tiles, p.tile_size, k, bad, idx);
    float *vals = rand_f(c, nk, 2.0f), *d0 = rand_f(c, n, 1.0f), *d = copy_f(c, d0, n);
    if (!run_decode(c, c->dut, ds, &p, k, idx, vals, f1, f2, d)) return;
    double *want;
    if (c->ref) {
        float *e = copy_f(c, d0, n);
        if (!run_decode(c, c->ref, ds, &p, k, idx, vals, f1, f2, e)) return;
        want = widen(c, e, n);
    } else {
        want = widen(c, d0, n);
        ref_demo_decode_sub(&p, idx, widen(c, vals, nk), k,
                            widen(c, f1, (size_t)(p.tile_rows * p.tile_rows)),
                            widen(c, f2, (size_t)(p.tile_cols * p.tile_cols)), want);
    }
    /* The subtracted part, D0 - D, is what the op computes; compare it too so
     * a small decode error is not hidden under D's own magnitude. */
    float *sub = TC_NEW(c, float, n);
    double *wsub = TC_NEW(c, double, n);
    for (size_t i = 0; i < n; i++) {
        sub[i] = d0[i] - d[i];
        wsub[i] = (double)d0[i] - want[i];
    }
    if (tc_nmse(c, "D", d, want, n, c->tol[TOL_TRANSFORM]))
        tc_nmse(c, "D0 - D", sub, wsub, n, 100.0 * c->tol[TOL_TRANSFORM]);
}

void cases_demo(tc *c) {
    tc_begin_op(c, "demo_momentum");
    momentum_check(c, 1, 0.999f, 0.01f);
    momentum_check(c, 7, 0.9f, 1.0f);
    momentum_check(c, 4099, 0.999f, 3e-4f);
    tc_end_op(c);

    tc_begin_op(c, "demo_encode");
    for (int i = 0; i < n_demo_shapes; i++) encode_check(c, &demo_shapes[i]);
    tc_end_op(c);

    tc_begin_op(c, "demo_topk");
    topk_check(c, 1, 1, 1);
    topk_check(c, 4, 16, 4);
    topk_check(c, 8, 16, 1);
    topk_check(c, 5, 273, 17);
    topk_check(c, 4, 4096, 64);
    topk_check(c, 2, 4096, 1024);
    topk_check(c, 4, 64, 64);
    topk_check(c, 8, 50, 49);
    topk_check(c, 12, 7, 3);
    tc_end_op(c);

    tc_begin_op(c, "demo_decode_sub");
    for (int i = 0; i < n_demo_shapes; i++) decode_check(c, &demo_shapes[i], 8, i % 3 == 1);
    decode_check(c, &demo_shapes[0], 1, 0); /* k = S */
    decode_check(c, &demo_shapes[2], 1, 1);
    tc_end_op(c);
}
