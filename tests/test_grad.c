/* test_grad: every backward op against central finite differences.
 *
 * For an op f and random r, L = sum(r * f(x)); the gradient the device's
 * backward op returns (in float) is compared with (L(x + h) - L(x - h)) / 2h
 * computed from the double reference forward at the same (float) point.
 * "Accumulates" outputs (dtable, dw, GEMM gradients with beta = 1) start from
 * random content and are run twice: they must end at D0 + 2 * gradient.
 * Runs on the cpu device and on every other device present
 * (DISTRO_TEST_DEVICES filters), or on the devices given as arguments,
 * device options included ("test_grad vulkan:0:kernels=gpu"). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/ref_ops.h"
#include "tests/test_util.h"

/* Relative L2 error 1e-4, as an NMSE: far above float rounding of the
 * backward (~1e-6) and the O(h^2) truncation of the difference, far below
 * any wrong term. */
#define GRAD_TOL 1e-8
#define FD_STEP  1e-4

typedef double (*loss_fn)(const void *ctx);

/* Central differences of f with respect to var[0..n), perturbed in place. */
static void fd_grad(loss_fn f, const void *ctx, double *var, int64_t n, double *g) {
    for (int64_t i = 0; i < n; i++) {
        double v = var[i];
        var[i] = v + FD_STEP;
        double lp = f(ctx);
        var[i] = v - FD_STEP;
        double lm = f(ctx);
        var[i] = v;
        g[i] = (lp - lm) / (2.0 * FD_STEP);
    }
}

static double dot(const double *a, const double *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Checks an accumulated gradient: got (after `times` calls) - d0 vs times * fd. */
static void check_acc(tc *c, const char *what, const float *got, const float *d0, const double *fd,
                      int64_t n, int times) {
    float *delta = TC_NEW(c, float, n);
    double *want = TC_NEW(c, double, n);
    for (int64_t i = 0; i < n; i++) {
        delta[i] = got[i] - d0[i];
        want[i] = times * fd[i];
    }
    tc_nmse(c, what, delta, want, (size_t)n, GRAD_TOL);
}

/* ---- embedding ------------------------------------------------------------- */

typedef struct emb_ctx {
    const int32_t *tok;
    int64_t n, vocab, dim;
    double *table, *r, *out;
} emb_ctx;

static double emb_loss(const void *p) {
    const emb_ctx *e = p;
    ref_embedding_fwd(e->tok, e->n, e->table, e->vocab, e->dim, e->out);
    return dot(e->r, e->out, e->n * e->dim);
}

static void grad_embedding(tc *c, int64_t n, int64_t vocab, int64_t dim) {
    tc_case(c, "n=%lld vocab=%lld dim=%lld, repeated and out-of-range tokens", (long long)n,
            (long long)vocab, (long long)dim);
    int32_t *tok = TC_NEW(c, int32_t, n);
    for (int64_t t = 0; t < n; t++) tok[t] = (int32_t)rng_int(&c->r, 0, vocab);
    tok[0] = -1;
    tok[n - 1] = (int32_t)vocab;
    int64_t nt = vocab * dim, no = n * dim;
    float *table = TC_NEW(c, float, nt), *r = TC_NEW(c, float, no);
    rng_fill(&c->r, table, (size_t)nt, 1.0f);
    rng_fill(&c->r, r, (size_t)no, 1.0f);
    float *d0 = TC_NEW(c, float, nt), *got = TC_NEW(c, float, nt);
    rng_fill(&c->r, d0, (size_t)nt, 1.0f);
    memcpy(got, d0, sizeof(float) * (size_t)nt);
    gt_set s;
    gs_init(&s, c, c->dut);
    int it = gs_add(&s, "tokens", GT_IN, DT_I32, 1, &n, tok);
    int ir = gs_add(&s, "dout", GT_IN, DT_F32, 2, (int64_t[]){n, dim}, r);
    int id = gs_add(&s, "dtable", GT_INOUT, DT_F32, 2, (int64_t[]){vocab, dim}, d0);
    for (int call = 0; call < 2 && s.ok; call++)
        gs_call(&s, dt_embedding_bwd(c->dut, gs_t(&s, it), gs_t(&s, ir), gs_t(&s, id)),
                "dt_embedding_bwd");
    gs_read(&s, id, got);
    if (!gs_done(&s)) return;
    emb_ctx e = {
        tok, n, vocab, dim, TC_NEW(c, double, nt), TC_NEW(c, double, no), TC_NEW(c, double, no)};
    f2d(table, e.table, (size_t)nt);
    f2d(r, e.r, (size_t)no);
    double *fd = TC_NEW(c, double, nt);
    fd_grad(emb_loss, &e, e.table, nt, fd);
    check_acc(c, "dtable after two calls - D0 vs 2 x FD", got, d0, fd, nt, 2);
}

/* ---- RMSNorm ----------------------------------------------------------------- */

typedef struct rms_ctx {
    int64_t rows, cols;
    double eps;
    double *x, *w, *r, *y, *rstd;
} rms_ctx;

static double rms_loss(const void *p) {
    const rms_ctx *e = p;
    ref_rmsnorm_fwd(e->x, e->w, e->rows, e->cols, e->eps, e->y, e->rstd);
    return dot(e->r, e->y, e->rows * e->cols);
}

static void grad_rmsnorm(tc *c, int64_t rows, int64_t cols, float eps) {
    tc_case(c, "rows=%lld cols=%lld eps=%g", (long long)rows, (long long)cols, (double)eps);
    int64_t n = rows * cols;
    float *x = TC_NEW(c, float, n), *w = TC_NEW(c, float, cols), *r = TC_NEW(c, float, n);
    rng_fill(&c->r, x, (size_t)n, 2.0f);
    rng_fill(&c->r, w, (size_t)cols, 1.5f);
    rng_fill(&c->r, r, (size_t)n, 1.0f);
    rms_ctx e = {rows,
                 cols,
                 eps,
                 TC_NEW(c, double, n),
                 TC_NEW(c, double, cols),
                 TC_NEW(c, double, n),
                 TC_NEW(c, double, n),
                 TC_NEW(c, double, rows)};
    f2d(x, e.x, (size_t)n);
    f2d(w, e.w, (size_t)cols);
    f2d(r, e.r, (size_t)n);
    rms_loss(&e);
    float *rstd = TC_NEW(c, float, rows);
    d2f(e.rstd, rstd, (size_t)rows); /* as the forward leaves it */
    float *dw0 = TC_NEW(c, float, cols), *dx = TC_NEW(c, float, n), *dw = TC_NEW(c, float, cols);
    rng_fill(&c->r, dw0, (size_t)cols, 1.0f);
    gt_set s;
    gs_init(&s, c, c->dut);
    int ix = gs_add(&s, "x", GT_IN, DT_F32, 2, (int64_t[]){rows, cols}, x);
    int iw = gs_add(&s, "w", GT_IN, DT_F32, 1, &cols, w);
    int irs = gs_add(&s, "rstd", GT_IN, DT_F32, 1, &rows, rstd);
    int idy = gs_add(&s, "dy", GT_IN, DT_F32, 2, (int64_t[]){rows, cols}, r);
    int idx = gs_add(&s, "dx", GT_OUT, DT_F32, 2, (int64_t[]){rows, cols}, NULL);
    int idw = gs_add(&s, "dw", GT_INOUT, DT_F32, 1, &cols, dw0);
    for (int call = 0; call < 2 && s.ok; call++)
        gs_call(&s,
                dt_rmsnorm_bwd(c->dut, gs_t(&s, ix), gs_t(&s, iw), gs_t(&s, irs), gs_t(&s, idy),
                               gs_t(&s, idx), gs_t(&s, idw)),
                "dt_rmsnorm_bwd");
    gs_read(&s, idx, dx);
    gs_read(&s, idw, dw);
    if (!gs_done(&s)) return;
    double *fdx = TC_NEW(c, double, n), *fdw = TC_NEW(c, double, cols);
    fd_grad(rms_loss, &e, e.x, n, fdx);
    fd_grad(rms_loss, &e, e.w, cols, fdw);
    if (tc_nmse(c, "dx vs FD", dx, fdx, (size_t)n, GRAD_TOL))
        check_acc(c, "dw after two calls - D0 vs 2 x FD", dw, dw0, fdw, cols, 2);
}

/* ---- RoPE ---------------------------------------------------------------------- */

typedef struct rope_ctx {
    int64_t rows, width, seq, hd, rot;
    double *x, *tmp, *table, *r;
} rope_ctx;

static double rope_loss(const void *p) {
    const rope_ctx *e = p;
    memcpy(e->tmp, e->x, sizeof(double) * (size_t)(e->rows * e->width));
    ref_rope(e->tmp, e->rows, e->width, e->table, e->seq, e->hd, e->rot, 0);
    return dot(e->r, e->tmp, e->rows * e->width);
}

static void grad_rope(tc *c, int64_t B, int64_t T, int64_t width, int64_t hd, int64_t rot) {
    tc_case(c, "B=%lld T=%lld width=%lld head_dim=%lld rot_cols=%lld", (long long)B, (long long)T,
            (long long)width, (long long)hd, (long long)rot);
    int64_t rows = B * T, n = rows * width;
    float *table = TC_NEW(c, float, T *hd), *x = TC_NEW(c, float, n), *r = TC_NEW(c, float, n);
    dt_rope_table(T, hd, 10000.0, table);
    rng_fill(&c->r, x, (size_t)n, 1.0f);
    rng_fill(&c->r, r, (size_t)n, 1.0f);
    float *dx = TC_NEW(c, float, n);
    memcpy(dx, r, sizeof(float) * (size_t)n);
    gt_set s;
    gs_init(&s, c, c->dut);
    int ix = gs_add(&s, "dx", GT_INOUT, DT_F32, 2, (int64_t[]){rows, width}, r);
    int it = gs_add(&s, "table", GT_IN, DT_F32, 3, (int64_t[]){T, hd / 2, 2}, table);
    if (s.ok) gs_call(&s, dt_rope_bwd(c->dut, gs_t(&s, ix), gs_t(&s, it), hd, rot), "dt_rope_bwd");
    gs_read(&s, ix, dx);
    if (!gs_done(&s)) return;
    rope_ctx e = {rows,
                  width,
                  T,
                  hd,
                  rot,
                  TC_NEW(c, double, n),
                  TC_NEW(c, double, n),
                  TC_NEW(c, double, T *hd),
                  TC_NEW(c, double, n)};
    f2d(x, e.x, (size_t)n);
    f2d(table, e.table, (size_t)(T * hd));
    f2d(r, e.r, (size_t)n);
    double *fd = TC_NEW(c, double, n);
    fd_grad(rope_loss, &e, e.x, n, fd);
    tc_nmse(c, "dx vs FD", dx, fd, (size_t)n, GRAD_TOL);
}

/* ---- attention ------------------------------------------------------------------- */

typedef struct attn_ctx {
    int64_t B, T, H, hd;
    double scale;
    double *qkv, *r, *out, *lse;
} attn_ctx;

static double attn_loss(const void *p) {
    const attn_ctx *e = p;
    ref_attention_fwd(e->qkv, e->B, e->T, e->H, e->hd, e->scale, e->out, e->lse);
    return dot(e->r, e->out, e->B * e->T * e->H * e->hd);
}

static void grad_attention(tc *c, int64_t B, int64_t T, int64_t H, int64_t hd, float scale) {
    tc_case(c, "B=%lld T=%lld H=%lld hd=%lld scale=%g", (long long)B, (long long)T, (long long)H,
            (long long)hd, (double)scale);
    int64_t D = H * hd, nq = B * T * 3 * D, no = B * T * D, nl = B * H * T;
    float *qkv = TC_NEW(c, float, nq), *r = TC_NEW(c, float, no);
    rng_fill(&c->r, qkv, (size_t)nq, 1.0f);
    rng_fill(&c->r, r, (size_t)no, 1.0f);
    attn_ctx e = {B,
                  T,
                  H,
                  hd,
                  scale,
                  TC_NEW(c, double, nq),
                  TC_NEW(c, double, no),
                  TC_NEW(c, double, no),
                  TC_NEW(c, double, nl)};
    f2d(qkv, e.qkv, (size_t)nq);
    f2d(r, e.r, (size_t)no);
    attn_loss(&e);
    float *out = TC_NEW(c, float, no), *lse = TC_NEW(c, float, nl), *dqkv = TC_NEW(c, float, nq);
    d2f(e.out, out, (size_t)no);
    d2f(e.lse, lse, (size_t)nl);
    gt_set s;
    gs_init(&s, c, c->dut);
    int iq = gs_add(&s, "qkv", GT_IN, DT_F32, 3, (int64_t[]){B, T, 3 * D}, qkv);
    int io = gs_add(&s, "out", GT_IN, DT_F32, 3, (int64_t[]){B, T, D}, out);
    int id = gs_add(&s, "dout", GT_IN, DT_F32, 3, (int64_t[]){B, T, D}, r);
    int il = gs_add(&s, "lse", GT_IN, DT_F32, 3, (int64_t[]){B, H, T}, lse);
    int ig = gs_add(&s, "dqkv", GT_OUT, DT_F32, 3, (int64_t[]){B, T, 3 * D}, NULL);
    int is = gs_add(&s, "scratch", GT_OUT, DT_F32, 3, (int64_t[]){B, H, T}, NULL);
    if (s.ok)
        gs_call(&s,
                dt_attention_bwd(c->dut, gs_t(&s, iq), gs_t(&s, io), gs_t(&s, id), gs_t(&s, il),
                                 gs_t(&s, ig), gs_t(&s, is), H, scale),
                "dt_attention_bwd");
    gs_read(&s, ig, dqkv);
    if (!gs_done(&s)) return;
    double *fd = TC_NEW(c, double, nq);
    fd_grad(attn_loss, &e, e.qkv, nq, fd);
    static const char *names[3] = {"dq vs FD", "dk vs FD", "dv vs FD"};
    double den_floor = 0.0; /* dq, dk vanish for T = 1: judge at the scale of all of dqkv */
    for (int64_t i = 0; i < nq; i++) den_floor += fd[i] * fd[i] / 3.0;
    for (int part = 0; part < 3; part++) {
        float *g = TC_NEW(c, float, no);
        double *w = TC_NEW(c, double, no);
        for (int64_t row = 0; row < B * T; row++)
            for (int64_t j = 0; j < D; j++) {
                g[row * D + j] = dqkv[row * 3 * D + part * D + j];
                w[row * D + j] = fd[row * 3 * D + part * D + j];
            }
        tc_nmse_floor(c, names[part], g, w, (size_t)no, GRAD_TOL, den_floor);
    }
}

/* ---- SwiGLU ------------------------------------------------------------------------ */

typedef struct swiglu_ctx {
    int64_t n, f;
    double *h, *r, *out;
} swiglu_ctx;

static double swiglu_loss(const void *p) {
    const swiglu_ctx *e = p;
    ref_swiglu_fwd(e->h, e->n, e->f, e->out);
    return dot(e->r, e->out, e->n * e->f);
}

static void grad_swiglu(tc *c, int64_t n, int64_t f) {
    tc_case(c, "n=%lld F=%lld", (long long)n, (long long)f);
    int64_t nh = n * 2 * f, no = n * f;
    float *h = TC_NEW(c, float, nh), *r = TC_NEW(c, float, no), *dh = TC_NEW(c, float, nh);
    rng_fill(&c->r, h, (size_t)nh, 4.0f);
    rng_fill(&c->r, r, (size_t)no, 1.0f);
    gt_set s;
    gs_init(&s, c, c->dut);
    int ih = gs_add(&s, "h", GT_IN, DT_F32, 2, (int64_t[]){n, 2 * f}, h);
    int id = gs_add(&s, "dout", GT_IN, DT_F32, 2, (int64_t[]){n, f}, r);
    int io = gs_add(&s, "dh", GT_OUT, DT_F32, 2, (int64_t[]){n, 2 * f}, NULL);
    if (s.ok)
        gs_call(&s, dt_swiglu_bwd(c->dut, gs_t(&s, ih), gs_t(&s, id), gs_t(&s, io)),
                "dt_swiglu_bwd");
    gs_read(&s, io, dh);
    if (!gs_done(&s)) return;
    swiglu_ctx e = {n, f, TC_NEW(c, double, nh), TC_NEW(c, double, no), TC_NEW(c, double, no)};
    f2d(h, e.h, (size_t)nh);
    f2d(r, e.r, (size_t)no);
    double *fd = TC_NEW(c, double, nh);
    fd_grad(swiglu_loss, &e, e.h, nh, fd);
    tc_nmse(c, "dh vs FD", dh, fd, (size_t)nh, GRAD_TOL);
}

/* ---- softmax cross-entropy ----------------------------------------------------------- */

typedef struct xent_ctx {
    int64_t n, V;
    const int32_t *tgt;
    double gs;
    double *logits, *losses;
} xent_ctx;

/* grad_scale times the sum of the losses of rows with a valid target. */
static double xent_loss(const void *p) {
    const xent_ctx *e = p;
    ref_softmax_xent(e->logits, e->tgt, e->n, e->V, 1.0, e->losses, NULL);
    double s = 0.0;
    for (int64_t r = 0; r < e->n; r++)
        if (e->tgt[r] >= 0 && e->tgt[r] < e->V) s += e->losses[r];
    return e->gs * s;
}

static void grad_xent(tc *c, int64_t n, int64_t V, float gs) {
    tc_case(c, "n=%lld V=%lld grad_scale=%g, one out-of-range target", (long long)n, (long long)V,
            (double)gs);
    int64_t nl = n * V;
    float *logits = TC_NEW(c, float, nl), *dl = TC_NEW(c, float, nl), *loss = TC_NEW(c, float, n);
    rng_fill(&c->r, logits, (size_t)nl, 3.0f);
    int32_t *tgt = TC_NEW(c, int32_t, n);
    for (int64_t r = 0; r < n; r++) tgt[r] = (int32_t)rng_int(&c->r, 0, V);
    tgt[n / 2] = (int32_t)V; /* its row must get a zero gradient */
    gt_set s;
    gs_init(&s, c, c->dut);
    int il = gs_add(&s, "logits", GT_IN, DT_F32, 2, (int64_t[]){n, V}, logits);
    int it = gs_add(&s, "targets", GT_IN, DT_I32, 1, &n, tgt);
    int io = gs_add(&s, "losses", GT_OUT, DT_F32, 1, &n, NULL);
    int id = gs_add(&s, "dlogits", GT_OUT, DT_F32, 2, (int64_t[]){n, V}, NULL);
    if (s.ok)
        gs_call(&s,
                dt_softmax_xent(c->dut, gs_t(&s, il), gs_t(&s, it), gs_t(&s, io), gs_t(&s, id), gs),
                "dt_softmax_xent");
    gs_read(&s, io, loss);
    gs_read(&s, id, dl);
    if (!gs_done(&s)) return;
    xent_ctx e = {n, V, tgt, gs, TC_NEW(c, double, nl), TC_NEW(c, double, n)};
    f2d(logits, e.logits, (size_t)nl);
    double *fd = TC_NEW(c, double, nl);
    fd_grad(xent_loss, &e, e.logits, nl, fd);
    tc_nmse(c, "dlogits vs FD", dl, fd, (size_t)nl, GRAD_TOL);
}

/* ---- GEMM ------------------------------------------------------------------------------- */

typedef struct gemm_ctx {
    dt_gemm_desc d;
    double *a, *b, *r, *c;
    int64_t nc;
} gemm_ctx;

static double gemm_loss(const void *p) {
    const gemm_ctx *e = p;
    memset(e->c, 0, sizeof(double) * (size_t)e->nc);
    ref_gemm(&e->d, e->a, e->b, e->c);
    return dot(e->r, e->c, e->nc);
}

/* out += alpha * op(x) op(y) through dt_gemm on the device (beta = 1). */
static int dev_gemm_acc(gt_set *s, int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                        int ix, int iy, int iout) {
    dt_gemm_desc d = {ta, tb, m, n, k, alpha, 1.0f, 0, 0, 0, 1, 0, 0, 0};
    if (s->ok)
        gs_call(s, dt_gemm(s->dev, &d, gs_t(s, ix), gs_t(s, iy), gs_t(s, iout)),
                "dt_gemm (gradient)");
    return s->ok;
}

/* C = alpha op(A) op(B), L = sum(R * C). With op(B)^T and op(A)^T written
 * as GEMMs over the stored A, B and R:
 *   dA (m x k, or k x m when A is stored transposed) = alpha R op(B)^T
 *   dB (k x n, or n x k when B is stored transposed) = alpha op(A)^T R */
static void grad_gemm(tc *c, int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha) {
    tc_case(c, "tA=%d tB=%d m=%lld n=%lld k=%lld alpha=%g", ta, tb, (long long)m, (long long)n,
            (long long)k, (double)alpha);
    int64_t na = m * k, nb = k * n, nr = m * n;
    int64_t ar = ta ? k : m, aw = ta ? m : k, br = tb ? n : k, bw = tb ? k : n;
    float *a = TC_NEW(c, float, na), *b = TC_NEW(c, float, nb), *r = TC_NEW(c, float, nr);
    rng_fill(&c->r, a, (size_t)na, 1.0f);
    rng_fill(&c->r, b, (size_t)nb, 1.0f);
    rng_fill(&c->r, r, (size_t)nr, 1.0f);
    float *da0 = TC_NEW(c, float, na), *db0 = TC_NEW(c, float, nb);
    rng_fill(&c->r, da0, (size_t)na, 1.0f);
    rng_fill(&c->r, db0, (size_t)nb, 1.0f);
    float *da = TC_NEW(c, float, na), *db = TC_NEW(c, float, nb);
    gt_set s;
    gs_init(&s, c, c->dut);
    int ia = gs_add(&s, "A", GT_IN, DT_F32, 2, (int64_t[]){ar, aw}, a);
    int ib = gs_add(&s, "B", GT_IN, DT_F32, 2, (int64_t[]){br, bw}, b);
    int ir = gs_add(&s, "R", GT_IN, DT_F32, 2, (int64_t[]){m, n}, r);
    int ida = gs_add(&s, "dA", GT_INOUT, DT_F32, 2, (int64_t[]){ar, aw}, da0);
    int idb = gs_add(&s, "dB", GT_INOUT, DT_F32, 2, (int64_t[]){br, bw}, db0);
    for (int call = 0; call < 2; call++) {
        /* dA */
        if (!ta) /* m x k = R (m x n) * op(B)^T (n x k) */
            dev_gemm_acc(&s, 0, !tb, m, k, n, alpha, ir, ib, ida);
        else /* k x m = op(B) (k x n) * R^T (n x m) */
            dev_gemm_acc(&s, tb, 1, k, m, n, alpha, ib, ir, ida);
        /* dB */
        if (!tb) /* k x n = op(A)^T (k x m) * R (m x n) */
            dev_gemm_acc(&s, !ta, 0, k, n, m, alpha, ia, ir, idb);
        else /* n x k = R^T (n x m) * op(A) (m x k) */
            dev_gemm_acc(&s, 1, ta, n, k, m, alpha, ir, ia, idb);
    }
    gs_read(&s, ida, da);
    gs_read(&s, idb, db);
    if (!gs_done(&s)) return;
    gemm_ctx e;
    dt_gemm_desc d0 = {ta, tb, m, n, k, alpha, 0.0f, 0, 0, 0, 1, 0, 0, 0};
    ref_gemm_normalise(&d0, &e.d);
    e.a = TC_NEW(c, double, na);
    e.b = TC_NEW(c, double, nb);
    e.r = TC_NEW(c, double, nr);
    e.c = TC_NEW(c, double, nr);
    e.nc = nr;
    f2d(a, e.a, (size_t)na);
    f2d(b, e.b, (size_t)nb);
    f2d(r, e.r, (size_t)nr);
    double *fda = TC_NEW(c, double, na), *fdb = TC_NEW(c, double, nb);
    fd_grad(gemm_loss, &e, e.a, na, fda);
    fd_grad(gemm_loss, &e, e.b, nb, fdb);
    check_acc(c, "dA after two beta=1 GEMMs - D0 vs 2 x FD", da, da0, fda, na, 2);
    check_acc(c, "dB after two beta=1 GEMMs - D0 vs 2 x FD", db, db0, fdb, nb, 2);
}

static void run_device(tc *c) {
    tc_begin_op(c, "embedding_bwd");
    grad_embedding(c, 10, 6, 3);
    grad_embedding(c, 40, 17, 8);
    tc_end_op(c);

    tc_begin_op(c, "rmsnorm_bwd");
    grad_rmsnorm(c, 3, 10, 1e-5f);
    grad_rmsnorm(c, 5, 33, 1e-2f);
    grad_rmsnorm(c, 2, 1, 1.0f); /* one column: only eps keeps dx from cancelling to ~0 */
    tc_end_op(c);

    tc_begin_op(c, "rope_bwd");
    grad_rope(c, 2, 3, 12, 4, 8);
    grad_rope(c, 1, 5, 16, 8, 16);
    tc_end_op(c);

    tc_begin_op(c, "attention_bwd");
    grad_attention(c, 1, 1, 1, 2, 0.7f);
    grad_attention(c, 2, 5, 2, 4, 0.5f);
    grad_attention(c, 1, 9, 3, 8, 1.0f / sqrtf(8.0f));
    tc_end_op(c);

    tc_begin_op(c, "swiglu_bwd");
    grad_swiglu(c, 3, 5);
    grad_swiglu(c, 4, 17);
    tc_end_op(c);

    tc_begin_op(c, "softmax_xent");
    grad_xent(c, 4, 9, 0.25f);
    grad_xent(c, 7, 33, 1.0f / 7.0f);
    tc_end_op(c);

    tc_begin_op(c, "gemm_grad");
    for (int t = 0; t < 4; t++) grad_gemm(c, t & 1, t >> 1, 5, 7, 6, t == 2 ? -1.5f : 1.0f);
    grad_gemm(c, 1, 0, 1, 9, 13, 0.5f);
    tc_end_op(c);
}

int main(int argc, char **argv) {
    uint64_t seed = test_seed(1234567);
    printf("seed %llu (set DISTRO_TEST_SEED to change)\n", (unsigned long long)seed);
    /* Arguments: the devices to test, as specs with any options (e.g.
     * vulkan:0:kernels=gpu); none: the cpu device and every other one. */
    test_dev devs[32];
    int n = argc > 1 ? test_devices_named(argc - 1, argv + 1, devs, 32) : test_devices(1, devs, 32);
    if (n < 0) return 1;
    if (n == 0) {
        printf("SKIP: none of the devices named is here (see the SKIP lines above)\n");
        return TEST_SKIP;
    }
    int failed = 0;
    for (int i = 0; i < n; i++) {
        dt_device *dev = NULL;
        if (dt_device_open(devs[i].spec, &dev) != DT_OK) {
            printf("FAIL %s: cannot be opened: %s\n", devs[i].spec, dt_last_error());
            failed++;
            continue;
        }
        printf("== %s: %s\n", devs[i].spec, devs[i].name);
        tc c;
        tc_init(&c, seed);
        c.dut = dev;
        c.versus = "central differences";
        run_device(&c);
        if (c.ops_failed) failed++;
        printf("== %s: %s, %d op families passed, %d failed\n", devs[i].spec,
               c.ops_failed ? "FAIL" : "PASS", c.ops_passed, c.ops_failed);
        dt_device_close(dev);
    }
    printf("%s: %d device(s), %d failed (seed %llu)\n", failed ? "FAIL" : "PASS", n, failed,
           (unsigned long long)seed);
    return failed ? 1 : 0;
}
