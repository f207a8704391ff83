/* GEMM checks: every transpose combination, alpha/beta, beta = 0 over a
 * NaN-filled C, row strides wider than the rows (padding filled with NaN in
 * A and B, so a GEMM that reads padding is caught, and with values in C that
 * must survive), batches with packed and gapped strides, and sizes that are
 * multiples of no tile size. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/op_cases.h"

typedef struct gemm_case {
    int ta, tb;
    int64_t m, n, k;
    float alpha, beta;
    int64_t pad_a, pad_b, pad_c; /* ld = width + pad (0: pass ld = 0, packed) */
    int64_t batch;
    int64_t gap; /* extra elements between batch items; -1: pass strides 0 (packed) */
    int nan_c;   /* C's elements start as NaN (only with beta == 0) */
    int matmul;  /* through dt_matmul with 2-D views */
} gemm_case;

static int run_gemm(tc *c, dt_device *dev, const gemm_case *g, const dt_gemm_desc *d,
                    const float *a, int64_t na, const float *b, int64_t nb, float *cm, int64_t nc) {
    gt_set s;
    gs_init(&s, c, dev);
    if (g->matmul) {
        int64_t ar = g->ta ? g->k : g->m, aw = g->ta ? g->m : g->k;
        int64_t br = g->tb ? g->n : g->k, bw = g->tb ? g->k : g->n;
        int ia = gs_add(&s, "A", GT_IN, DT_F32, 2, (int64_t[]){ar, aw}, a);
        int ib = gs_add(&s, "B", GT_IN, DT_F32, 2, (int64_t[]){br, bw}, b);
        int ic = gs_add(&s, "C", GT_INOUT, DT_F32, 2, (int64_t[]){g->m, g->n}, cm);
        if (s.ok)
            gs_call(&s,
                    dt_matmul(dev, g->ta, g->tb, g->alpha, gs_t(&s, ia), gs_t(&s, ib), g->beta,
                              gs_t(&s, ic)),
                    "dt_matmul");
        gs_read(&s, ic, cm);
    } else {
        int ia = gs_add(&s, "A", GT_IN, DT_F32, 1, &na, a);
        int ib = gs_add(&s, "B", GT_IN, DT_F32, 1, &nb, b);
        int ic = gs_add(&s, "C", GT_INOUT, DT_F32, 1, &nc, cm);
        if (s.ok) gs_call(&s, dt_gemm(dev, d, gs_t(&s, ia), gs_t(&s, ib), gs_t(&s, ic)), "dt_gemm");
        gs_read(&s, ic, cm);
    }
    return gs_done(&s);
}

/* Fills the elements an operand's rows x width items (ld apart, `stride`
 * apart per batch item) touch; marks them in `mask` when given. */
static void fill_items(tc *c, float *x, uint8_t *mask, int64_t batch, int64_t stride, int64_t rows,
                       int64_t ld, int64_t width, int nan) {
    for (int64_t bi = 0; bi < batch; bi++)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t w = 0; w < width; w++) {
                int64_t i = bi * stride + r * ld + w;
                x[i] = nan ? NAN : (float)rng_sym(&c->r);
                if (mask) mask[i] = 1;
            }
}

static void gemm_check(tc *c, gemm_case g) {
    if (g.matmul) g.pad_a = g.pad_b = g.pad_c = 0, g.batch = 1;
    int64_t aw = g.ta ? g.m : g.k, ar = g.ta ? g.k : g.m;
    int64_t bw = g.tb ? g.k : g.n, br = g.tb ? g.n : g.k;
    dt_gemm_desc d0 = {g.ta, g.tb, g.m, g.n, g.k, g.alpha, g.beta, 0, 0, 0, g.batch, 0, 0, 0};
    if (g.pad_a) d0.lda = aw + g.pad_a;
    if (g.pad_b) d0.ldb = bw + g.pad_b;
    if (g.pad_c) d0.ldc = g.n + g.pad_c;
    if (g.batch > 1 && g.gap >= 0) {
        d0.stride_a = ar * (d0.lda ? d0.lda : aw) + g.gap;
        d0.stride_b = br * (d0.ldb ? d0.ldb : bw) + g.gap + 1;
        d0.stride_c = g.m * (d0.ldc ? d0.ldc : g.n) + g.gap + 2;
    }
    dt_gemm_desc d;
    ref_gemm_normalise(&d0, &d);
    tc_case(c,
            "%s m=%lld n=%lld k=%lld tA=%d tB=%d alpha=%g beta=%g ld+(%lld,%lld,%lld) "
            "batch=%lld gap=%lld%s",
            g.matmul ? "matmul" : "gemm", (long long)g.m, (long long)g.n, (long long)g.k, g.ta,
            g.tb, (double)g.alpha, (double)g.beta, (long long)g.pad_a, (long long)g.pad_b,
            (long long)g.pad_c, (long long)g.batch, (long long)g.gap, g.nan_c ? " C=NaN" : "");
    int64_t na = ref_gemm_extent_a(&d), nb = ref_gemm_extent_b(&d), nc = ref_gemm_extent_c(&d);
    float *a = TC_NEW(c, float, na), *b = TC_NEW(c, float, nb), *c0 = TC_NEW(c, float, nc);
    uint8_t *cmask = TC_NEW(c, uint8_t, nc);
    /* NaN in the padding of A and B: reading it would poison the result. */
    for (int64_t i = 0; i < na; i++) a[i] = NAN;
    for (int64_t i = 0; i < nb; i++) b[i] = NAN;
    fill_items(c, a, NULL, d.batch, d.stride_a, ar, d.lda, aw, 0);
    fill_items(c, b, NULL, d.batch, d.stride_b, br, d.ldb, bw, 0);
    /* C's padding holds values that must survive untouched. */
    rng_fill(&c->r, c0, (size_t)nc, 4.0f);
    fill_items(c, c0, cmask, d.batch, d.stride_c, g.m, d.ldc, g.n, g.nan_c);

    float *got = copy_f(c, c0, (size_t)nc);
    if (!run_gemm(c, c->dut, &g, &d0, a, na, b, nb, got, nc)) return;
    double *want = TC_NEW(c, double, nc);
    if (c->ref) {
        float *ex = copy_f(c, c0, (size_t)nc);
        if (!run_gemm(c, c->ref, &g, &d0, a, na, b, nb, ex, nc)) return;
        f2d(ex, want, (size_t)nc);
    } else {
        f2d(c0, want, (size_t)nc);
        ref_gemm(&d, widen(c, a, (size_t)na), widen(c, b, (size_t)nb), want);
    }
    /* Items by NMSE, padding of C bit for bit against what was there. */
    int64_t items = 0;
    float *gi = TC_NEW(c, float, nc);
    double *wi = TC_NEW(c, double, nc);
    for (int64_t i = 0; i < nc; i++) {
        if (cmask[i]) {
            gi[items] = got[i];
            wi[items] = want[i];
            items++;
        } else if (memcmp(&got[i], &c0[i], 4) != 0) {
            TC_FAIL(c, "C padding element %lld changed from %g to %g", (long long)i, (double)c0[i],
                    (double)got[i]);
            return;
        }
    }
    tc_nmse(c, "C", gi, wi, (size_t)items, c->tol[TOL_GEMM]);
}

void cases_gemm(tc *c) {
    tc_begin_op(c, "gemm");
    static const int64_t sizes[][3] = {{1, 1, 1},    {17, 33, 65}, {127, 129, 255},
                                       {64, 64, 64}, {5, 3, 2},    {1, 37, 16},
                                       {33, 1, 7},   {2, 2, 300},  {65, 17, 1}};
    static const float ab[][2] = {{1.0f, 0.0f}, {0.5f, 0.25f}, {-1.5f, 1.0f}, {2.0f, -0.75f}};
    int v = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int t = 0; t < 4; t++, v++) {
            gemm_case g = {t & 1,
                           t >> 1,
                           sizes[s][0],
                           sizes[s][1],
                           sizes[s][2],
                           ab[v % 4][0],
                           ab[v % 4][1],
                           0,
                           0,
                           0,
                           1,
                           0,
                           0,
                           0};
            gemm_check(c, g);
        }
    /* beta = 0 must not read C: NaN there may not propagate. */
    gemm_check(c, (gemm_case){0, 0, 1, 1, 1, 1.0f, 0.0f, 0, 0, 0, 1, 0, 1, 0});
    gemm_check(c, (gemm_case){1, 0, 17, 33, 65, 0.75f, 0.0f, 0, 0, 0, 1, 0, 1, 0});
    gemm_check(c, (gemm_case){0, 1, 127, 129, 255, 1.0f, 0.0f, 2, 3, 1, 1, 0, 1, 0});
    gemm_check(c, (gemm_case){1, 1, 9, 13, 11, -1.0f, 0.0f, 0, 0, 0, 3, -1, 1, 0});
    /* Row strides wider than the rows. */
    for (int t = 0; t < 4; t++) {
        gemm_check(c, (gemm_case){t & 1, t >> 1, 17, 33, 65, 1.0f, 0.5f, 3, 1, 2, 1, 0, 0, 0});
        gemm_check(c, (gemm_case){t & 1, t >> 1, 31, 8, 16, -0.5f, 1.0f, 16, 5, 7, 1, 0, 0, 0});
    }
    /* Batches: packed (strides 0), and with gaps between items. */
    for (int t = 0; t < 4; t++) {
        gemm_check(c, (gemm_case){t & 1, t >> 1, 9, 13, 11, 1.0f, 0.0f, 0, 0, 0, 3, -1, 0, 0});
        gemm_check(c, (gemm_case){t & 1, t >> 1, 17, 5, 33, 0.5f, 2.0f, 0, 0, 0, 4, 7, 0, 0});
        gemm_check(c, (gemm_case){t & 1, t >> 1, 7, 19, 3, 1.0f, 1.0f, 2, 3, 4, 5, 11, 0, 0});
    }
    gemm_check(c, (gemm_case){0, 1, 1, 1, 64, 1.0f, 0.0f, 0, 0, 0, 6, 0, 0, 0});
    gemm_check(c, (gemm_case){1, 0, 33, 65, 17, 1.0f, 0.0f, 1, 1, 1, 2, 5, 1, 0});
    tc_end_op(c);

    tc_begin_op(c, "matmul");
    for (int t = 0; t < 4; t++) {
        gemm_check(c, (gemm_case){t & 1, t >> 1, 17, 33, 65, 1.0f, 0.0f, 0, 0, 0, 1, 0, 0, 1});
        gemm_check(c, (gemm_case){t & 1, t >> 1, 8, 3, 5, -2.0f, 0.5f, 0, 0, 0, 1, 0, 0, 1});
    }
    gemm_check(c, (gemm_case){0, 0, 4, 4, 4, 1.0f, 0.0f, 0, 0, 0, 1, 0, 1, 1});
    tc_end_op(c);
}
