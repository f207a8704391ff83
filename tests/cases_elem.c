/* Checks of the elementwise ops (add, scale, copy, fill), the reductions
 * (sum_squares, check_finite) and AdamW. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/op_cases.h"

static const int64_t sizes[] = {1, 7, 1000, 4099};
#define N_SIZES (sizeof sizes / sizeof sizes[0])

/* ---- add / scale ---------------------------------------------------------- */

/* alias: 0 = separate y, 1 = y is a, 2 = y is b (scale: 1 = y is x). */
static int run_binary(tc *c, dt_device *dev, int is_scale, int64_t n, const float *a,
                      const float *b, float alpha, int alias, float *y) {
    gt_set s;
    gs_init(&s, c, dev);
    int ia = gs_add(&s, "a", alias == 1 ? GT_INOUT : GT_IN, DT_F32, 1, &n, a);
    int ib = is_scale ? -1 : gs_add(&s, "b", alias == 2 ? GT_INOUT : GT_IN, DT_F32, 1, &n, b);
    int iy = alias == 1 ? ia : alias == 2 ? ib : gs_add(&s, "y", GT_OUT, DT_F32, 1, &n, NULL);
    if (s.ok)
        gs_call(&s,
                is_scale ? dt_scale(dev, gs_t(&s, ia), alpha, gs_t(&s, iy))
                         : dt_add(dev, gs_t(&s, ia), gs_t(&s, ib), gs_t(&s, iy)),
                is_scale ? "dt_scale" : "dt_add");
    gs_read(&s, iy, y);
    return gs_done(&s);
}

static void binary_check(tc *c, int is_scale, int64_t n, float alpha, int alias) {
    tc_case(c, "n=%lld%s%s", (long long)n, is_scale ? " alpha set" : "",
            alias == 1   ? " y aliases the first input"
            : alias == 2 ? " y aliases b"
                         : "");
    float *a = rand_f(c, (size_t)n, 3.0f), *b = rand_f(c, (size_t)n, 3.0f);
    float *y = TC_NEW(c, float, n);
    if (!run_binary(c, c->dut, is_scale, n, a, b, alpha, alias, y)) return;
    double *want = TC_NEW(c, double, n);
    if (c->ref) {
        float *e = TC_NEW(c, float, n);
        if (!run_binary(c, c->ref, is_scale, n, a, b, alpha, alias, e)) return;
        f2d(e, want, (size_t)n);
    } else {
        for (int64_t i = 0; i < n; i++)
            want[i] = is_scale ? (double)alpha * a[i] : (double)a[i] + (double)b[i];
    }
    tc_nmse(c, "y", y, want, (size_t)n, c->tol[TOL_ELEM]);
}

/* ---- copy / fill ------------------------------------------------------------ */

static int run_copy(tc *c, dt_device *dev, dt_dtype st, int sdim, const int64_t *sshape,
                    dt_dtype dtp, int ddim, const int64_t *dshape, const void *src, void *dst) {
    gt_set s;
    gs_init(&s, c, dev);
    int is = gs_add(&s, "src", GT_IN, st, sdim, sshape, src);
    int id = gs_add(&s, "dst", GT_OUT, dtp, ddim, dshape, NULL);
    if (s.ok) gs_call(&s, dt_copy(dev, gs_t(&s, is), gs_t(&s, id)), "dt_copy");
    gs_read(&s, id, dst);
    return gs_done(&s);
}

static int run_fill(tc *c, dt_device *dev, int64_t n, float value, float *y) {
    gt_set s;
    gs_init(&s, c, dev);
    int iy = gs_add(&s, "y", GT_OUT, DT_F32, 2, (int64_t[]){1, n}, NULL);
    if (s.ok) gs_call(&s, dt_fill(dev, gs_t(&s, iy), value), "dt_fill");
    gs_read(&s, iy, y);
    return gs_done(&s);
}

/* ---- reductions ---------------------------------------------------------------- */

static int run_reduce(tc *c, dt_device *dev, int finite, int64_t n, const float *x, float *out) {
    gt_set s;
    gs_init(&s, c, dev);
    int ix = gs_add(&s, "x", GT_IN, DT_F32, 1, &n, x);
    int io = gs_add(&s, "out", GT_OUT, DT_F32, 1, (int64_t[]){1}, NULL);
    if (s.ok)
        gs_call(&s,
                finite ? dt_check_finite(dev, gs_t(&s, ix), gs_t(&s, io))
                       : dt_sum_squares(dev, gs_t(&s, ix), gs_t(&s, io)),
                finite ? "dt_check_finite" : "dt_sum_squares");
    gs_read(&s, io, out);
    return gs_done(&s);
}

static void sum_squares_check(tc *c, int64_t n) {
    tc_case(c, "n=%lld", (long long)n);
    float *x = rand_f(c, (size_t)n, 2.0f), got = 0.0f;
    if (!run_reduce(c, c->dut, 0, n, x, &got)) return;
    double want;
    if (c->ref) {
        float e = 0.0f;
        if (!run_reduce(c, c->ref, 0, n, x, &e)) return;
        want = e;
    } else {
        want = ref_sum_squares(widen(c, x, (size_t)n), n);
    }
    tc_nmse(c, "out", &got, &want, 1, c->tol[TOL_REDUCE]);
}

/* where: -1 = all finite; else a bad value at that index. */
static void check_finite_check(tc *c, int64_t n, int64_t where, float bad) {
    tc_case(c, "n=%lld %s at %lld", (long long)n, where < 0 ? "all finite" : "non-finite",
            (long long)where);
    float *x = rand_f(c, (size_t)n, 1e30f);
    x[n / 2] = FLT_MAX; /* large but finite */
    if (where >= 0) x[where] = bad;
    float got = -1.0f, want = (float)ref_check_finite(x, n);
    if (!run_reduce(c, c->dut, 1, n, x, &got)) return;
    if (c->ref && !run_reduce(c, c->ref, 1, n, x, &want)) return;
    tc_bits(c, "out", &got, &want, 1);
}

/* ---- AdamW ------------------------------------------------------------------------ */

static int run_adamw(tc *c, dt_device *dev, int64_t n, float *p, const float *g, float *m, float *v,
                     const dt_adamw_params *hp) {
    gt_set s;
    gs_init(&s, c, dev);
    int ip = gs_add(&s, "p", GT_INOUT, DT_F32, 1, &n, p);
    int ig = gs_add(&s, "g", GT_IN, DT_F32, 1, &n, g);
    int im = gs_add(&s, "m", GT_INOUT, DT_F32, 1, &n, m);
    int iv = gs_add(&s, "v", GT_INOUT, DT_F32, 1, &n, v);
    if (s.ok)
        gs_call(&s, dt_adamw(dev, gs_t(&s, ip), gs_t(&s, ig), gs_t(&s, im), gs_t(&s, iv), hp),
                "dt_adamw");
    gs_read(&s, ip, p);
    gs_read(&s, im, m);
    gs_read(&s, iv, v);
    return gs_done(&s);
}

static void adamw_check(tc *c, int64_t n, int step, float grad_scale) {
    dt_adamw_params hp = {0.05f, 0.9f, 0.95f, 1e-8f, 0.1f, 0, 0, grad_scale};
    hp.bias1 = (float)(1.0 - pow(0.9, step));
    hp.bias2 = (float)(1.0 - pow(0.95, step));
    tc_case(c, "n=%lld t=%d grad_scale=%g", (long long)n, step, (double)grad_scale);
    size_t un = (size_t)n;
    float *p0 = rand_f(c, un, 1.0f), *g = rand_f(c, un, 1.0f), *m0 = rand_f(c, un, 0.1f);
    float *v0 = TC_NEW(c, float, n);
    for (size_t i = 0; i < un; i++) v0[i] = (float)(rng_uniform(&c->r) * 0.01);
    if (step == 1)
        for (size_t i = 0; i < un; i++) m0[i] = v0[i] = 0.0f;
    float *p = copy_f(c, p0, un), *m = copy_f(c, m0, un), *v = copy_f(c, v0, un);
    if (!run_adamw(c, c->dut, n, p, g, m, v, &hp)) return;
    double *wp, *wm, *wv;
    if (c->ref) {
        float *ep = copy_f(c, p0, un), *em = copy_f(c, m0, un), *ev = copy_f(c, v0, un);
        if (!run_adamw(c, c->ref, n, ep, g, em, ev, &hp)) return;
        wp = widen(c, ep, un), wm = widen(c, em, un), wv = widen(c, ev, un);
    } else {
        wp = widen(c, p0, un), wm = widen(c, m0, un), wv = widen(c, v0, un);
        ref_adamw(wp, widen(c, g, un), wm, wv, n, &hp);
    }
    /* The step itself, p - p0, is what a wrong formula changes most. */
    float *dp = TC_NEW(c, float, n);
    double *wdp = TC_NEW(c, double, n);
    for (size_t i = 0; i < un; i++) {
        dp[i] = p[i] - p0[i];
        wdp[i] = wp[i] - (double)p0[i];
    }
    if (tc_nmse(c, "p", p, wp, un, c->tol[TOL_ELEM]) &&
        tc_nmse(c, "m", m, wm, un, c->tol[TOL_ELEM]) &&
        tc_nmse(c, "v", v, wv, un, c->tol[TOL_ELEM]))
        tc_nmse(c, "p - p0", dp, wdp, un, c->tol[TOL_NORM]);
}

void cases_elem(tc *c) {
    tc_begin_op(c, "add");
    for (size_t i = 0; i < N_SIZES; i++) binary_check(c, 0, sizes[i], 0.0f, (int)(i % 3));
    binary_check(c, 0, 1000, 0.0f, 0);
    tc_end_op(c);

    tc_begin_op(c, "scale");
    static const float alphas[] = {-2.5f, 0.0f, 1.0f, 3e-3f};
    for (size_t i = 0; i < N_SIZES; i++) binary_check(c, 1, sizes[i], alphas[i], (int)(i % 2));
    tc_end_op(c);

    tc_begin_op(c, "copy");
    for (size_t i = 0; i < N_SIZES; i++) {
        int64_t n = sizes[i];
        tc_case(c, "f32 n=%lld", (long long)n);
        float *x = rand_f(c, (size_t)n, 5.0f), *y = TC_NEW(c, float, n);
        if (run_copy(c, c->dut, DT_F32, 1, &n, DT_F32, 2, (int64_t[]){1, n}, x, y))
            tc_bits(c, "dst", y, x, (size_t)n);
    }
    {
        tc_case(c, "i32 [6, 4] into f32 [24]: a byte copy");
        int32_t *x = TC_NEW(c, int32_t, 24), *y = TC_NEW(c, int32_t, 24);
        for (int i = 0; i < 24; i++) x[i] = (int32_t)rng_u64(&c->r);
        if (run_copy(c, c->dut, DT_I32, 2, (int64_t[]){6, 4}, DT_F32, 1, (int64_t[]){24}, x, y))
            tc_bits(c, "dst", y, x, 24);
    }
    tc_end_op(c);

    tc_begin_op(c, "fill");
    static const float values[] = {3.25f, -0.0f, 0.0f, -1e30f};
    for (size_t i = 0; i < N_SIZES; i++) {
        tc_case(c, "n=%lld value=%g", (long long)sizes[i], (double)values[i]);
        float *y = TC_NEW(c, float, sizes[i]), *w = TC_NEW(c, float, sizes[i]);
        for (int64_t j = 0; j < sizes[i]; j++) w[j] = values[i];
        if (run_fill(c, c->dut, sizes[i], values[i], y)) tc_bits(c, "y", y, w, (size_t)sizes[i]);
    }
    tc_end_op(c);

    tc_begin_op(c, "sum_squares");
    for (size_t i = 0; i < N_SIZES; i++) sum_squares_check(c, sizes[i]);
    sum_squares_check(c, 65537);
    sum_squares_check(c, 1048579);
    tc_end_op(c);

    tc_begin_op(c, "check_finite");
    check_finite_check(c, 1, -1, 0.0f);
    check_finite_check(c, 1, 0, NAN);
    check_finite_check(c, 1000, -1, 0.0f);
    check_finite_check(c, 1000, 0, -INFINITY);
    check_finite_check(c, 1000, 999, INFINITY);
    check_finite_check(c, 65537, 31337, NAN);
    check_finite_check(c, 65537, -1, 0.0f);
    check_finite_check(c, 1048579, 1048578, -INFINITY);
    tc_end_op(c);

    tc_begin_op(c, "adamw");
    adamw_check(c, 1, 1, 1.0f);
    adamw_check(c, 7, 3, 0.5f);
    adamw_check(c, 1000, 10, 1.0f);
    adamw_check(c, 4099, 1, 0.25f);
    tc_end_op(c);
}
