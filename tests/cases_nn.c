/* Checks of embedding, RMSNorm, RoPE and SwiGLU, forward and backward,
 * including the aliasing ops.h allows and out-of-range tokens. */
#include <limits.h>
#include <math.h>
#include <stdio.h>

#include "tests/op_cases.h"

/* ---- embedding ------------------------------------------------------------- */

static int run_embedding(tc *c, dt_device *dev, int bwd, int64_t B, int64_t T, const int32_t *tok,
                         int64_t vocab, int64_t dim, const float *table_or_dout, float *out) {
    gt_set s;
    gs_init(&s, c, dev);
    /* tokens as [B, T], activations as [B, T, dim]: n-D views work too. */
    int it = gs_add(&s, "tokens", GT_IN, DT_I32, 2, (int64_t[]){B, T}, tok);
    if (!bwd) {
        int tb = gs_add(&s, "table", GT_IN, DT_F32, 2, (int64_t[]){vocab, dim}, table_or_dout);
        int o = gs_add(&s, "out", GT_OUT, DT_F32, 3, (int64_t[]){B, T, dim}, NULL);
        if (s.ok)
            gs_call(&s, dt_embedding_fwd(dev, gs_t(&s, it), gs_t(&s, tb), gs_t(&s, o)),
                    "dt_embedding_fwd");
        gs_read(&s, o, out);
    } else {
        int d = gs_add(&s, "dout", GT_IN, DT_F32, 3, (int64_t[]){B, T, dim}, table_or_dout);
        int o = gs_add(&s, "dtable", GT_INOUT, DT_F32, 2, (int64_t[]){vocab, dim}, out);
        if (s.ok)
            gs_call(&s, dt_embedding_bwd(dev, gs_t(&s, it), gs_t(&s, d), gs_t(&s, o)),
                    "dt_embedding_bwd");
        gs_read(&s, o, out);
    }
    return gs_done(&s);
}

static void embedding_check(tc *c, int bwd, int64_t B, int64_t T, int64_t vocab, int64_t dim,
                            int bad_tokens) {
    int64_t n = B * T;
    tc_case(c, "B=%lld T=%lld vocab=%lld dim=%lld%s", (long long)B, (long long)T, (long long)vocab,
            (long long)dim, bad_tokens ? " with out-of-range tokens" : "");
    int32_t *tok = TC_NEW(c, int32_t, n);
    for (int64_t t = 0; t < n; t++) tok[t] = (int32_t)rng_int(&c->r, 0, vocab);
    if (bad_tokens) {
        static const int32_t bad[] = {-1, 0, INT_MIN, INT_MAX, -7};
        for (int64_t t = 0; t < n; t += 3) tok[t] = t % 2 ? (int32_t)vocab : bad[(t / 3) % 5];
    }
    int64_t nin = bwd ? n * dim : vocab * dim, nout = bwd ? vocab * dim : n * dim;
    float *in = rand_f(c, (size_t)nin, 1.0f);
    float *got = bwd ? rand_f(c, (size_t)nout, 1.0f) : TC_NEW(c, float, nout);
    const float *init = bwd ? copy_f(c, got, (size_t)nout) : NULL;
    if (!run_embedding(c, c->dut, bwd, B, T, tok, vocab, dim, in, got)) return;
    double *want = TC_NEW(c, double, nout);
    if (c->ref) {
        float *ex = bwd ? copy_f(c, init, (size_t)nout) : TC_NEW(c, float, nout);
        if (!run_embedding(c, c->ref, bwd, B, T, tok, vocab, dim, in, ex)) return;
        f2d(ex, want, (size_t)nout);
    } else if (bwd) {
        f2d(init, want, (size_t)nout);
        ref_embedding_bwd(tok, n, widen(c, in, (size_t)nin), vocab, dim, want);
    } else {
        ref_embedding_fwd(tok, n, widen(c, in, (size_t)nin), vocab, dim, want);
    }
    tc_nmse(c, bwd ? "dtable" : "out", got, want, (size_t)nout, c->tol[TOL_ELEM]);
}

/* ---- RMSNorm ---------------------------------------------------------------------- */

/* alias: y written over x (fwd), dx over dy (bwd). */
static int run_rmsnorm_fwd(tc *c, dt_device *dev, int64_t rows, int64_t cols, const float *x,
                           const float *w, float eps, int alias, float *y, float *rstd) {
    gt_set s;
    gs_init(&s, c, dev);
    int ix = gs_add(&s, "x", alias ? GT_INOUT : GT_IN, DT_F32, 2, (int64_t[]){rows, cols}, x);
    int iw = gs_add(&s, "w", GT_IN, DT_F32, 1, &cols, w);
    int iy = alias ? ix : gs_add(&s, "y", GT_OUT, DT_F32, 2, (int64_t[]){rows, cols}, NULL);
    int ir = gs_add(&s, "rstd", GT_OUT, DT_F32, 1, &rows, NULL);
    if (s.ok)
        gs_call(&s,
                dt_rmsnorm_fwd(dev, gs_t(&s, ix), gs_t(&s, iw), gs_t(&s, iy), gs_t(&s, ir), eps),
                "dt_rmsnorm_fwd");
    gs_read(&s, iy, y);
    gs_read(&s, ir, rstd);
    return gs_done(&s);
}

static int run_rmsnorm_bwd(tc *c, dt_device *dev, int64_t rows, int64_t cols, const float *x,
                           const float *w, const float *rstd, const float *dy, int alias, float *dx,
                           float *dw) {
    gt_set s;
    gs_init(&s, c, dev);
    int ix = gs_add(&s, "x", GT_IN, DT_F32, 2, (int64_t[]){rows, cols}, x);
    int iw = gs_add(&s, "w", GT_IN, DT_F32, 1, &cols, w);
    int ir = gs_add(&s, "rstd", GT_IN, DT_F32, 1, &rows, rstd);
    int idy = gs_add(&s, "dy", alias ? GT_INOUT : GT_IN, DT_F32, 2, (int64_t[]){rows, cols}, dy);
    int idx = alias ? idy : gs_add(&s, "dx", GT_OUT, DT_F32, 2, (int64_t[]){rows, cols}, NULL);
    int idw = gs_add(&s, "dw", GT_INOUT, DT_F32, 1, &cols, dw);
    if (s.ok)
        gs_call(&s,
                dt_rmsnorm_bwd(dev, gs_t(&s, ix), gs_t(&s, iw), gs_t(&s, ir), gs_t(&s, idy),
                               gs_t(&s, idx), gs_t(&s, idw)),
                "dt_rmsnorm_bwd");
    gs_read(&s, idx, dx);
    gs_read(&s, idw, dw);
    return gs_done(&s);
}

/* amp: the size of x; at 1e-3 eps dominates mean(x^2), so a wrong eps shows. */
static void rmsnorm_check(tc *c, int64_t rows, int64_t cols, float eps, int alias, float amp) {
    size_t n = (size_t)(rows * cols);
    tc_case(c, "fwd rows=%lld cols=%lld eps=%g |x|<%g%s", (long long)rows, (long long)cols,
            (double)eps, (double)amp, alias ? " y=x" : "");
    float *x = rand_f(c, n, amp), *w = rand_f(c, (size_t)cols, 1.0f);
    float *y = TC_NEW(c, float, n), *rs = TC_NEW(c, float, rows);
    if (!run_rmsnorm_fwd(c, c->dut, rows, cols, x, w, eps, alias, y, rs)) return;
    double *wy = TC_NEW(c, double, n), *wr = TC_NEW(c, double, rows);
    if (c->ref) {
        float *ey = TC_NEW(c, float, n), *er = TC_NEW(c, float, rows);
        if (!run_rmsnorm_fwd(c, c->ref, rows, cols, x, w, eps, alias, ey, er)) return;
        f2d(ey, wy, n);
        f2d(er, wr, (size_t)rows);
    } else {
        ref_rmsnorm_fwd(widen(c, x, n), widen(c, w, (size_t)cols), rows, cols, eps, wy, wr);
    }
    if (tc_nmse(c, "y", y, wy, n, c->tol[TOL_NORM]))
        tc_nmse(c, "rstd", rs, wr, (size_t)rows, c->tol[TOL_NORM]);

    tc_case(c, "bwd rows=%lld cols=%lld%s", (long long)rows, (long long)cols,
            alias ? " dx=dy" : "");
    /* rstd as the forward leaves it: the double reference rounded to float. */
    x = rand_f(c, n, amp);
    w = rand_f(c, (size_t)cols, 1.0f);
    float *dy = rand_f(c, n, 1.0f), *dw0 = rand_f(c, (size_t)cols, 1.0f);
    double *yd = TC_NEW(c, double, n), *rd = TC_NEW(c, double, rows);
    ref_rmsnorm_fwd(widen(c, x, n), widen(c, w, (size_t)cols), rows, cols, eps, yd, rd);
    rs = TC_NEW(c, float, rows);
    d2f(rd, rs, (size_t)rows);
    float *dx = TC_NEW(c, float, n), *dw = copy_f(c, dw0, (size_t)cols);
    if (!run_rmsnorm_bwd(c, c->dut, rows, cols, x, w, rs, dy, alias, dx, dw)) return;
    double *wdx = TC_NEW(c, double, n), *wdw = TC_NEW(c, double, cols);
    if (c->ref) {
        float *edx = TC_NEW(c, float, n), *edw = copy_f(c, dw0, (size_t)cols);
        if (!run_rmsnorm_bwd(c, c->ref, rows, cols, x, w, rs, dy, alias, edx, edw)) return;
        f2d(edx, wdx, n);
        f2d(edw, wdw, (size_t)cols);
    } else {
        f2d(dw0, wdw, (size_t)cols);
        ref_rmsnorm_bwd(widen(c, x, n), widen(c, w, (size_t)cols), widen(c, rs, (size_t)rows),
                        widen(c, dy, n), rows, cols, wdx, wdw);
    }
    if (tc_nmse(c, "dx", dx, wdx, n, c->tol[TOL_NORM]))
        tc_nmse(c, "dw (accumulated)", dw, wdw, (size_t)cols, c->tol[TOL_NORM]);
}

/* ---- RoPE ---------------------------------------------------------------------------- */

static int run_rope(tc *c, dt_device *dev, int inverse, int64_t B, int64_t T, int64_t width,
                    const float *table, int64_t hd, int64_t rot, float *x) {
    gt_set s;
    gs_init(&s, c, dev);
    int ix = gs_add(&s, "x", GT_INOUT, DT_F32, 3, (int64_t[]){B, T, width}, x);
    int it = gs_add(&s, "table", GT_IN, DT_F32, 3, (int64_t[]){T, hd / 2, 2}, table);
    if (s.ok)
        gs_call(&s,
                inverse ? dt_rope_bwd(dev, gs_t(&s, ix), gs_t(&s, it), hd, rot)
                        : dt_rope_fwd(dev, gs_t(&s, ix), gs_t(&s, it), hd, rot),
                inverse ? "dt_rope_bwd" : "dt_rope_fwd");
    gs_read(&s, ix, x);
    return gs_done(&s);
}

static void rope_check(tc *c, int inverse, int64_t B, int64_t T, int64_t width, int64_t hd,
                       int64_t rot) {
    tc_case(c, "%s B=%lld T=%lld width=%lld head_dim=%lld rot_cols=%lld", inverse ? "bwd" : "fwd",
            (long long)B, (long long)T, (long long)width, (long long)hd, (long long)rot);
    size_t n = (size_t)(B * T * width), nt = (size_t)(T * hd);
    float *table = TC_NEW(c, float, nt);
    dt_rope_table(T, hd, 10000.0, table);
    float *x0 = rand_f(c, n, 1.0f), *got = copy_f(c, x0, n);
    if (!run_rope(c, c->dut, inverse, B, T, width, table, hd, rot, got)) return;
    double *want;
    if (c->ref) {
        float *ex = copy_f(c, x0, n);
        if (!run_rope(c, c->ref, inverse, B, T, width, table, hd, rot, ex)) return;
        want = widen(c, ex, n);
    } else {
        want = widen(c, x0, n);
        ref_rope(want, B * T, width, widen(c, table, nt), T, hd, rot, inverse);
    }
    /* Columns past rot_cols are not rotated: they must keep their bits. */
    for (int64_t r = 0; r < B * T; r++)
        for (int64_t j = rot; j < width; j++)
            if (got[r * width + j] != x0[r * width + j]) {
                TC_FAIL(c, "column %lld of row %lld (past rot_cols) changed", (long long)j,
                        (long long)r);
                return;
            }
    tc_nmse(c, "x", got, want, n, c->tol[TOL_ELEM]);
}

/* ---- SwiGLU ---------------------------------------------------------------------------- */

static int run_swiglu(tc *c, dt_device *dev, int bwd, int64_t n, int64_t f, const float *h,
                      const float *dout, float *out) {
    gt_set s;
    gs_init(&s, c, dev);
    int ih = gs_add(&s, "h", GT_IN, DT_F32, 2, (int64_t[]){n, 2 * f}, h);
    if (!bwd) {
        int io = gs_add(&s, "out", GT_OUT, DT_F32, 2, (int64_t[]){n, f}, NULL);
        if (s.ok) gs_call(&s, dt_swiglu_fwd(dev, gs_t(&s, ih), gs_t(&s, io)), "dt_swiglu_fwd");
        gs_read(&s, io, out);
    } else {
        int id = gs_add(&s, "dout", GT_IN, DT_F32, 2, (int64_t[]){n, f}, dout);
        int io = gs_add(&s, "dh", GT_OUT, DT_F32, 2, (int64_t[]){n, 2 * f}, NULL);
        if (s.ok)
            gs_call(&s, dt_swiglu_bwd(dev, gs_t(&s, ih), gs_t(&s, id), gs_t(&s, io)),
                    "dt_swiglu_bwd");
        gs_read(&s, io, out);
    }
    return gs_done(&s);
}

static void swiglu_check(tc *c, int bwd, int64_t n, int64_t f) {
    tc_case(c, "%s n=%lld F=%lld", bwd ? "bwd" : "fwd", (long long)n, (long long)f);
    /* Gates over [-8, 8): both tails of the sigmoid. */
    float *h = rand_f(c, (size_t)(n * 2 * f), 8.0f), *dout = rand_f(c, (size_t)(n * f), 1.0f);
    size_t no = (size_t)(bwd ? n * 2 * f : n * f);
    float *got = TC_NEW(c, float, no);
    if (!run_swiglu(c, c->dut, bwd, n, f, h, dout, got)) return;
    double *want = TC_NEW(c, double, no);
    if (c->ref) {
        float *ex = TC_NEW(c, float, no);
        if (!run_swiglu(c, c->ref, bwd, n, f, h, dout, ex)) return;
        f2d(ex, want, no);
    } else if (bwd) {
        ref_swiglu_bwd(widen(c, h, (size_t)(n * 2 * f)), widen(c, dout, (size_t)(n * f)), n, f,
                       want);
    } else {
        ref_swiglu_fwd(widen(c, h, (size_t)(n * 2 * f)), n, f, want);
    }
    tc_nmse(c, bwd ? "dh" : "out", got, want, no, c->tol[TOL_ELEM]);
}

void cases_nn(tc *c) {
    for (int bwd = 0; bwd < 2; bwd++) {
        tc_begin_op(c, bwd ? "embedding_bwd" : "embedding_fwd");
        embedding_check(c, bwd, 1, 1, 1, 1, 0);
        embedding_check(c, bwd, 1, 7, 11, 5, 0);
        embedding_check(c, bwd, 2, 32, 256, 33, 0);
        embedding_check(c, bwd, 5, 26, 50, 64, 1);
        /* Few rows, many tokens: repeated rows must accumulate in bwd. */
        embedding_check(c, bwd, 4, 64, 3, 17, 0);
        tc_end_op(c);
    }

    tc_begin_op(c, "rmsnorm");
    static const int64_t rn[][2] = {{1, 1}, {3, 7}, {17, 64}, {64, 257}, {5, 1000}, {2, 4096}};
    for (size_t i = 0; i < sizeof rn / sizeof rn[0]; i++)
        rmsnorm_check(c, rn[i][0], rn[i][1], i % 2 ? 1e-6f : 1e-5f, 0, 2.0f);
    rmsnorm_check(c, 9, 96, 1e-5f, 1, 2.0f);
    rmsnorm_check(c, 1, 1, 0.0f, 1, 2.0f);
    rmsnorm_check(c, 6, 64, 1e-5f, 0, 1e-3f);
    tc_end_op(c);

    for (int inv = 0; inv < 2; inv++) {
        tc_begin_op(c, inv ? "rope_bwd" : "rope_fwd");
        rope_check(c, inv, 1, 1, 2, 2, 2);
        rope_check(c, inv, 2, 4, 24, 8, 16);
        rope_check(c, inv, 2, 7, 64, 16, 64);
        rope_check(c, inv, 3, 5, 96, 32, 64);
        rope_check(c, inv, 1, 33, 6, 6, 6);
        tc_end_op(c);
    }

    for (int bwd = 0; bwd < 2; bwd++) {
        tc_begin_op(c, bwd ? "swiglu_bwd" : "swiglu_fwd");
        swiglu_check(c, bwd, 1, 1);
        swiglu_check(c, bwd, 3, 5);
        swiglu_check(c, bwd, 16, 64);
        swiglu_check(c, bwd, 7, 333);
        tc_end_op(c);
    }
}
