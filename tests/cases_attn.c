/* Checks of the fused causal attention (forward, backward) and the fused
 * softmax cross-entropy. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/op_cases.h"

/* ---- attention --------------------------------------------------------------- */

typedef struct attn_shape {
    int64_t B, T, H, hd;
} attn_shape;

static int run_attn_fwd(tc *c, dt_device *dev, attn_shape a, float scale, const float *qkv,
                        float *out, float *lse) {
    int64_t D = a.H * a.hd;
    gt_set s;
    gs_init(&s, c, dev);
    int iq = gs_add(&s, "qkv", GT_IN, DT_F32, 3, (int64_t[]){a.B, a.T, 3 * D}, qkv);
    int io = gs_add(&s, "out", GT_OUT, DT_F32, 3, (int64_t[]){a.B, a.T, D}, NULL);
    int il = gs_add(&s, "lse", GT_OUT, DT_F32, 3, (int64_t[]){a.B, a.H, a.T}, NULL);
    if (s.ok)
        gs_call(&s, dt_attention_fwd(dev, gs_t(&s, iq), gs_t(&s, io), gs_t(&s, il), a.H, scale),
                "dt_attention_fwd");
    gs_read(&s, io, out);
    gs_read(&s, il, lse);
    return gs_done(&s);
}

static int run_attn_bwd(tc *c, dt_device *dev, attn_shape a, float scale, const float *qkv,
                        const float *out, const float *dout, const float *lse, float *dqkv) {
    int64_t D = a.H * a.hd;
    gt_set s;
    gs_init(&s, c, dev);
    int iq = gs_add(&s, "qkv", GT_IN, DT_F32, 3, (int64_t[]){a.B, a.T, 3 * D}, qkv);
    int io = gs_add(&s, "out", GT_IN, DT_F32, 3, (int64_t[]){a.B, a.T, D}, out);
    int id = gs_add(&s, "dout", GT_IN, DT_F32, 3, (int64_t[]){a.B, a.T, D}, dout);
    int il = gs_add(&s, "lse", GT_IN, DT_F32, 3, (int64_t[]){a.B, a.H, a.T}, lse);
    int ig = gs_add(&s, "dqkv", GT_OUT, DT_F32, 3, (int64_t[]){a.B, a.T, 3 * D}, NULL);
    /* Scratch starts as NaN: its initial contents must not matter. */
    int is = gs_add(&s, "scratch", GT_OUT, DT_F32, 3, (int64_t[]){a.B, a.H, a.T}, NULL);
    if (s.ok)
        gs_call(&s,
                dt_attention_bwd(dev, gs_t(&s, iq), gs_t(&s, io), gs_t(&s, id), gs_t(&s, il),
                                 gs_t(&s, ig), gs_t(&s, is), a.H, scale),
                "dt_attention_bwd");
    gs_read(&s, ig, dqkv);
    return gs_done(&s);
}

static void attention_check(tc *c, attn_shape a, float scale, float amp) {
    int64_t D = a.H * a.hd;
    size_t nq = (size_t)(a.B * a.T * 3 * D), no = (size_t)(a.B * a.T * D);
    size_t nl = (size_t)(a.B * a.H * a.T);
    tc_case(c, "fwd B=%lld T=%lld H=%lld hd=%lld scale=%g amp=%g", (long long)a.B, (long long)a.T,
            (long long)a.H, (long long)a.hd, (double)scale, (double)amp);
    float *qkv = rand_f(c, nq, amp);
    float *out = TC_NEW(c, float, no), *lse = TC_NEW(c, float, nl);
    if (!run_attn_fwd(c, c->dut, a, scale, qkv, out, lse)) return;
    double *wo = TC_NEW(c, double, no), *wl = TC_NEW(c, double, nl);
    if (c->ref) {
        float *eo = TC_NEW(c, float, no), *el = TC_NEW(c, float, nl);
        if (!run_attn_fwd(c, c->ref, a, scale, qkv, eo, el)) return;
        f2d(eo, wo, no);
        f2d(el, wl, nl);
    } else {
        ref_attention_fwd(widen(c, qkv, nq), a.B, a.T, a.H, a.hd, scale, wo, wl);
    }
    if (tc_nmse(c, "out", out, wo, no, c->tol[TOL_GEMM]))
        tc_nmse(c, "lse", lse, wl, nl, c->tol[TOL_GEMM]);

    tc_case(c, "bwd B=%lld T=%lld H=%lld hd=%lld scale=%g amp=%g", (long long)a.B, (long long)a.T,
            (long long)a.H, (long long)a.hd, (double)scale, (double)amp);
    /* out and lse as a forward leaves them: the reference rounded to float,
     * identical on both sides of a parity comparison. */
    qkv = rand_f(c, nq, amp);
    float *dout = rand_f(c, no, 1.0f);
    double *od = TC_NEW(c, double, no), *ld = TC_NEW(c, double, nl);
    ref_attention_fwd(widen(c, qkv, nq), a.B, a.T, a.H, a.hd, scale, od, ld);
    out = TC_NEW(c, float, no);
    lse = TC_NEW(c, float, nl);
    d2f(od, out, no);
    d2f(ld, lse, nl);
    float *dqkv = TC_NEW(c, float, nq);
    if (!run_attn_bwd(c, c->dut, a, scale, qkv, out, dout, lse, dqkv)) return;
    double *want = TC_NEW(c, double, nq);
    if (c->ref) {
        float *e = TC_NEW(c, float, nq);
        if (!run_attn_bwd(c, c->ref, a, scale, qkv, out, dout, lse, e)) return;
        f2d(e, want, nq);
    } else {
        ref_attention_bwd(widen(c, qkv, nq), widen(c, dout, no), a.B, a.T, a.H, a.hd, scale, want);
    }
    /* dq, dk and dv separately: each has its own formula. */
    /* dq and dk vanish for a one-token sequence (p = 1): judge each part at
     * the scale of the whole gradient, a third of its energy. */
    const char *names[3] = {"dq", "dk", "dv"};
    double den_floor = 0.0;
    for (size_t i = 0; i < nq; i++) den_floor += want[i] * want[i] / 3.0;
    for (int part = 0; part < 3; part++) {
        float *g = TC_NEW(c, float, no);
        double *w = TC_NEW(c, double, no);
        for (int64_t r = 0; r < a.B * a.T; r++)
            for (int64_t j = 0; j < D; j++) {
                g[r * D + j] = dqkv[r * 3 * D + part * D + j];
                w[r * D + j] = want[r * 3 * D + part * D + j];
            }
        if (!tc_nmse_floor(c, names[part], g, w, no, c->tol[TOL_GEMM], den_floor)) return;
    }
}

/* ---- softmax cross-entropy ------------------------------------------------------- */

/* mode: 0 = losses only (dlogits.buf NULL), 1 = with dlogits, 2 = dlogits
 * written over logits. */
static int run_xent(tc *c, dt_device *dev, int64_t n, int64_t V, const float *logits,
                    const int32_t *tgt, float gs, int mode, float *losses, float *dl) {
    gt_set s;
    gs_init(&s, c, dev);
    int il =
        gs_add(&s, "logits", mode == 2 ? GT_INOUT : GT_IN, DT_F32, 2, (int64_t[]){n, V}, logits);
    int it = gs_add(&s, "targets", GT_IN, DT_I32, 1, &n, tgt);
    int io = gs_add(&s, "losses", GT_OUT, DT_F32, 1, &n, NULL);
    int id = mode == 2   ? il
             : mode == 1 ? gs_add(&s, "dlogits", GT_OUT, DT_F32, 2, (int64_t[]){n, V}, NULL)
                         : -1;
    dt_tensor none;
    memset(&none, 0, sizeof none);
    if (s.ok)
        gs_call(&s,
                dt_softmax_xent(dev, gs_t(&s, il), gs_t(&s, it), gs_t(&s, io),
                                id >= 0 ? gs_t(&s, id) : none, gs),
                "dt_softmax_xent");
    gs_read(&s, io, losses);
    if (id >= 0) gs_read(&s, id, dl);
    return gs_done(&s);
}

static void xent_check(tc *c, int64_t n, int64_t V, float amp, float offset, int mode,
                       int bad_targets) {
    static const char *modes[] = {"losses only", "with dlogits", "dlogits over logits"};
    tc_case(c, "n=%lld V=%lld amp=%g offset=%g %s%s", (long long)n, (long long)V, (double)amp,
            (double)offset, modes[mode], bad_targets ? " with out-of-range targets" : "");
    size_t nl = (size_t)(n * V);
    float *logits = rand_f(c, nl, amp);
    for (size_t i = 0; i < nl; i++) logits[i] += offset;
    int32_t *tgt = TC_NEW(c, int32_t, n);
    for (int64_t r = 0; r < n; r++) tgt[r] = (int32_t)rng_int(&c->r, 0, V);
    if (bad_targets)
        for (int64_t r = 1; r < n; r += 3) tgt[r] = r % 2 ? (int32_t)V : -1;
    float gs = 1.0f / (float)n;
    float *loss = TC_NEW(c, float, n), *dl = TC_NEW(c, float, nl);
    if (!run_xent(c, c->dut, n, V, logits, tgt, gs, mode, loss, dl)) return;
    double *wl = TC_NEW(c, double, n), *wd = TC_NEW(c, double, nl);
    if (c->ref) {
        float *el = TC_NEW(c, float, n), *ed = TC_NEW(c, float, nl);
        if (!run_xent(c, c->ref, n, V, logits, tgt, gs, mode, el, ed)) return;
        f2d(el, wl, (size_t)n);
        f2d(ed, wd, nl);
    } else {
        ref_softmax_xent(widen(c, logits, nl), tgt, n, V, gs, wl, wd);
    }
    /* Out-of-range targets: loss NaN, gradient row exactly zero. The other
     * rows are compared by NMSE (which NaN would fail). */
    float *gl = TC_NEW(c, float, n);
    double *vl = TC_NEW(c, double, n);
    int64_t kept = 0;
    for (int64_t r = 0; r < n; r++) {
        if (tgt[r] >= 0 && tgt[r] < V) {
            gl[kept] = loss[r];
            vl[kept++] = wl[r];
            continue;
        }
        if (!isnan(loss[r])) {
            TC_FAIL(c, "row %lld with target %d: loss %g, expected NaN", (long long)r, tgt[r],
                    (double)loss[r]);
            return;
        }
        for (int64_t j = 0; mode && j < V; j++)
            if (dl[r * V + j] != 0.0f) {
                TC_FAIL(c, "row %lld with target %d: dlogits[%lld] = %g, expected 0", (long long)r,
                        tgt[r], (long long)j, (double)dl[r * V + j]);
                return;
            }
    }
    if (!tc_nmse(c, "losses", gl, vl, (size_t)kept, c->tol[TOL_NORM]) || !mode) return;
    tc_nmse(c, "dlogits", dl, wd, nl, c->tol[TOL_NORM]);
}

void cases_attn_xent(tc *c) {
    tc_begin_op(c, "attention");
    /* Past one block of keys (T = 130), a wide head (128), an odd head (3). */
    static const attn_shape shapes[] = {{1, 1, 1, 2},    {1, 5, 1, 4},    {2, 7, 3, 8},
                                        {1, 33, 2, 16},  {2, 64, 4, 32},  {1, 17, 1, 64},
                                        {1, 130, 2, 16}, {1, 20, 1, 128}, {1, 9, 2, 3}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        attention_check(c, shapes[i], 1.0f / sqrtf((float)shapes[i].hd), 1.0f);
    /* Sharp softmax: large scores need the max subtracted. */
    attention_check(c, (attn_shape){2, 9, 2, 8}, 4.0f, 3.0f);
    tc_end_op(c);

    tc_begin_op(c, "softmax_xent");
    xent_check(c, 1, 1, 1.0f, 0.0f, 1, 0);
    xent_check(c, 3, 7, 2.0f, 0.0f, 1, 0);
    xent_check(c, 16, 256, 3.0f, 0.0f, 1, 0);
    xent_check(c, 16, 256, 3.0f, 0.0f, 0, 0);
    xent_check(c, 5, 1000, 4.0f, 0.0f, 2, 0);
    xent_check(c, 2, 50257, 4.0f, 0.0f, 1, 0); /* a GPT-2 vocabulary: long rows */
    xent_check(c, 9, 50, 2.0f, 0.0f, 1, 1);
    xent_check(c, 9, 50, 2.0f, 0.0f, 2, 1);
    /* Logits far from zero: a softmax without the max subtracted overflows. */
    xent_check(c, 4, 300, 5.0f, 100.0f, 1, 0);
    xent_check(c, 4, 300, 5.0f, -100.0f, 1, 0);
    tc_end_op(c);
}
