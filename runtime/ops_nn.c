/* Entry points of the transformer ops: validate once, then dispatch to the
 * device's backend. */
#include <math.h>
#include <stdio.h>

#include "runtime/op_check.h"

/* ---- GEMM ---------------------------------------------------------------- */

/* Elements an operand stored as rows x width (row stride ld) spans over
 * `batch` items `stride` apart: the index of its last element plus one. */
static int64_t gemm_extent(int64_t batch, int64_t stride, int64_t rows, int64_t ld, int64_t width) {
    int64_t items, row_span, sum; /* INT64_MAX when it does not fit: no view holds that */
    if (__builtin_mul_overflow(batch - 1, stride, &items) ||
        __builtin_mul_overflow(rows - 1, ld, &row_span) ||
        __builtin_add_overflow(items, row_span, &sum) || __builtin_add_overflow(sum, width, &sum))
        return INT64_MAX;
    return sum;
}

static dt_status gemm_operand(const op_ctx *c, const char *name, const dt_tensor *t, int64_t batch,
                              int64_t stride, int64_t rows, int64_t ld, int64_t width) {
    OP_TRY(op_view(c, name, t, DT_F32));
    if (ld < width)
        return op_fail(c, "%s row stride %lld is below its row width %lld", name, (long long)ld,
                       (long long)width);
    int64_t need = gemm_extent(batch, stride, rows, ld, width);
    if (dt_tensor_numel(t) < need) {
        char s[96];
        return op_fail(c,
                       "%s %s holds %lld elements; %lld x %lld (ld %lld, batch %lld, "
                       "stride %lld) needs %lld",
                       name, op_shape(t, s, sizeof s), (long long)dt_tensor_numel(t),
                       (long long)rows, (long long)width, (long long)ld, (long long)batch,
                       (long long)stride, (long long)need);
    }
    return DT_OK;
}

dt_status dt_gemm(dt_device *dev, const dt_gemm_desc *desc, dt_tensor a, dt_tensor b, dt_tensor c) {
    op_ctx ctx = {"gemm", dev};
    if (!desc) return op_fail(&ctx, "descriptor is NULL");
    dt_gemm_desc d = *desc;
    if (d.m < 1 || d.n < 1 || d.k < 1)
        return op_fail(&ctx, "m, n, k = %lld, %lld, %lld must all be >= 1", (long long)d.m,
                       (long long)d.n, (long long)d.k);
    if (d.batch < 1) d.batch = 1;
    d.trans_a = d.trans_a != 0;
    d.trans_b = d.trans_b != 0;
    int64_t a_rows = d.trans_a ? d.k : d.m, a_width = d.trans_a ? d.m : d.k;
    int64_t b_rows = d.trans_b ? d.n : d.k, b_width = d.trans_b ? d.k : d.n;
    if (d.lda == 0) d.lda = a_width;
    if (d.ldb == 0) d.ldb = b_width;
    if (d.ldc == 0) d.ldc = d.n;
    if (d.lda < 1 || d.ldb < 1 || d.ldc < 1)
        return op_fail(&ctx, "row strides lda, ldb, ldc = %lld, %lld, %lld must be >= 1",
                       (long long)d.lda, (long long)d.ldb, (long long)d.ldc);
    if (d.batch > 1) {
        if (d.stride_a == 0) d.stride_a = op_mul(a_rows, d.lda);
        if (d.stride_b == 0) d.stride_b = op_mul(b_rows, d.ldb);
        if (d.stride_c == 0) d.stride_c = op_mul(d.m, d.ldc);
        if (d.stride_a < 0 || d.stride_b < 0 || d.stride_c < op_mul(d.m, d.ldc))
            return op_fail(&ctx, "batch strides a=%lld b=%lld c=%lld: C items would overlap",
                           (long long)d.stride_a, (long long)d.stride_b, (long long)d.stride_c);
    } else {
        d.stride_a = d.stride_b = d.stride_c = 0;
    }
    OP_TRY(op_finite(&ctx, "alpha", d.alpha));
    OP_TRY(op_finite(&ctx, "beta", d.beta));
    OP_TRY(gemm_operand(&ctx, "A", &a, d.batch, d.stride_a, a_rows, d.lda, a_width));
    OP_TRY(gemm_operand(&ctx, "B", &b, d.batch, d.stride_b, b_rows, d.ldb, b_width));
    OP_TRY(gemm_operand(&ctx, "C", &c, d.batch, d.stride_c, d.m, d.ldc, d.n));
    return OP_DISPATCH(&ctx, gemm, (dev, &d, &a, &b, &c));
}

dt_status dt_matmul(dt_device *dev, int trans_a, int trans_b, float alpha, dt_tensor a, dt_tensor b,
                    float beta, dt_tensor c) {
    op_ctx ctx = {"matmul", dev};
    if (a.ndim != 2 || b.ndim != 2 || c.ndim != 2) {
        char sa[96], sb[96], sc[96];
        return op_fail(&ctx, "A %s, B %s, C %s must all be 2-D", op_shape(&a, sa, sizeof sa),
                       op_shape(&b, sb, sizeof sb), op_shape(&c, sc, sizeof sc));
    }
    int64_t m = trans_a ? a.shape[1] : a.shape[0], k = trans_a ? a.shape[0] : a.shape[1];
    int64_t kb = trans_b ? b.shape[1] : b.shape[0], n = trans_b ? b.shape[0] : b.shape[1];
    if (k != kb || c.shape[0] != m || c.shape[1] != n) {
        char sa[96], sb[96], sc[96];
        return op_fail(&ctx, "op(A) %s%s times op(B) %s%s does not give C %s",
                       op_shape(&a, sa, sizeof sa), trans_a ? "^T" : "",
                       op_shape(&b, sb, sizeof sb), trans_b ? "^T" : "",
                       op_shape(&c, sc, sizeof sc));
    }
    dt_gemm_desc d = {trans_a, trans_b, m, n, k, alpha, beta, 0, 0, 0, 1, 0, 0, 0};
    return dt_gemm(dev, &d, a, b, c);
}

/* ---- embedding ----------------------------------------------------------- */

dt_status dt_embedding_fwd(dt_device *dev, dt_tensor tokens, dt_tensor table, dt_tensor out) {
    op_ctx ctx = {"embedding_fwd", dev};
    OP_TRY(op_view(&ctx, "tokens", &tokens, DT_I32));
    OP_TRY(op_view(&ctx, "table", &table, DT_F32));
    if (table.ndim != 2) return op_fail(&ctx, "table must be 2-D [vocab, dim]");
    char e[96];
    int64_t n = dt_tensor_numel(&tokens), dim = table.shape[1];
    snprintf(e, sizeof e, "[tokens, dim] = [%lld, %lld]", (long long)n, (long long)dim);
    OP_TRY(op_view_n(&ctx, "out", &out, DT_F32, op_mul(n, dim), e));
    return OP_DISPATCH(&ctx, embedding_fwd, (dev, &tokens, &table, &out));
}

dt_status dt_embedding_bwd(dt_device *dev, dt_tensor tokens, dt_tensor dout, dt_tensor dtable) {
    op_ctx ctx = {"embedding_bwd", dev};
    OP_TRY(op_view(&ctx, "tokens", &tokens, DT_I32));
    OP_TRY(op_view(&ctx, "dtable", &dtable, DT_F32));
    if (dtable.ndim != 2) return op_fail(&ctx, "dtable must be 2-D [vocab, dim]");
    char e[96];
    int64_t n = dt_tensor_numel(&tokens), dim = dtable.shape[1];
    snprintf(e, sizeof e, "[tokens, dim] = [%lld, %lld]", (long long)n, (long long)dim);
    OP_TRY(op_view_n(&ctx, "dout", &dout, DT_F32, op_mul(n, dim), e));
    return OP_DISPATCH(&ctx, embedding_bwd, (dev, &tokens, &dout, &dtable));
}

/* ---- RMSNorm ------------------------------------------------------------- */

static dt_status rmsnorm_common(const op_ctx *ctx, const dt_tensor *x, const dt_tensor *w,
                                const dt_tensor *rstd, int64_t *rows, int64_t *cols) {
    OP_TRY(op_view(ctx, "x", x, DT_F32));
    *cols = op_cols(x);
    *rows = op_rows(x);
    char e[96];
    snprintf(e, sizeof e, "[cols] = [%lld]", (long long)*cols);
    OP_TRY(op_view_n(ctx, "w", w, DT_F32, *cols, e));
    snprintf(e, sizeof e, "[rows] = [%lld]", (long long)*rows);
    return op_view_n(ctx, "rstd", rstd, DT_F32, *rows, e);
}

dt_status dt_rmsnorm_fwd(dt_device *dev, dt_tensor x, dt_tensor w, dt_tensor y, dt_tensor rstd,
                         float eps) {
    op_ctx ctx = {"rmsnorm_fwd", dev};
    int64_t rows = 0, cols = 0;
    OP_TRY(rmsnorm_common(&ctx, &x, &w, &rstd, &rows, &cols));
    OP_TRY(op_view_n(&ctx, "y", &y, DT_F32, op_mul(rows, cols), "same as x"));
    if (!(eps >= 0.0f) || !isfinite(eps))
        return op_fail(&ctx, "eps %g must be finite and >= 0", (double)eps);
    return OP_DISPATCH(&ctx, rmsnorm_fwd, (dev, &x, &w, &y, &rstd, rows, cols, eps));
}

dt_status dt_rmsnorm_bwd(dt_device *dev, dt_tensor x, dt_tensor w, dt_tensor rstd, dt_tensor dy,
                         dt_tensor dx, dt_tensor dw) {
    op_ctx ctx = {"rmsnorm_bwd", dev};
    int64_t rows = 0, cols = 0;
    OP_TRY(rmsnorm_common(&ctx, &x, &w, &rstd, &rows, &cols));
    OP_TRY(op_view_n(&ctx, "dy", &dy, DT_F32, op_mul(rows, cols), "same as x"));
    OP_TRY(op_view_n(&ctx, "dx", &dx, DT_F32, op_mul(rows, cols), "same as x"));
    OP_TRY(op_view_n(&ctx, "dw", &dw, DT_F32, cols, "same as w"));
    return OP_DISPATCH(&ctx, rmsnorm_bwd, (dev, &x, &w, &rstd, &dy, &dx, &dw, rows, cols));
}

/* ---- RoPE ---------------------------------------------------------------- */

static dt_status rope(const char *name, dt_device *dev, dt_tensor x, dt_tensor table,
                      int64_t head_dim, int64_t rot_cols, int inverse) {
    op_ctx ctx = {name, dev};
    OP_TRY(op_view(&ctx, "x", &x, DT_F32));
    OP_TRY(op_view(&ctx, "table", &table, DT_F32));
    int64_t width = op_cols(&x), rows = op_rows(&x);
    if (head_dim < 2 || head_dim % 2)
        return op_fail(&ctx, "head_dim %lld must be even and >= 2", (long long)head_dim);
    if (rot_cols < head_dim || rot_cols % head_dim || rot_cols > width)
        return op_fail(&ctx,
                       "rot_cols %lld must be a multiple of head_dim %lld and at most the "
                       "row width %lld",
                       (long long)rot_cols, (long long)head_dim, (long long)width);
    if (table.ndim != 3 || table.shape[1] != head_dim / 2 || table.shape[2] != 2) {
        char s[96];
        return op_fail(&ctx, "table %s must be [seq_len, %lld, 2]", op_shape(&table, s, sizeof s),
                       (long long)(head_dim / 2));
    }
    int64_t seq_len = table.shape[0];
    if (rows % seq_len)
        return op_fail(&ctx, "%lld rows are not a whole number of sequences of %lld",
                       (long long)rows, (long long)seq_len);
    return OP_DISPATCH(&ctx, rope,
                       (dev, &x, &table, rows, width, seq_len, head_dim, rot_cols, inverse));
}

dt_status dt_rope_fwd(dt_device *dev, dt_tensor x, dt_tensor table, int64_t head_dim,
                      int64_t rot_cols) {
    return rope("rope_fwd", dev, x, table, head_dim, rot_cols, 0);
}

dt_status dt_rope_bwd(dt_device *dev, dt_tensor dx, dt_tensor table, int64_t head_dim,
                      int64_t rot_cols) {
    return rope("rope_bwd", dev, dx, table, head_dim, rot_cols, 1);
}

/* ---- attention ----------------------------------------------------------- */

typedef struct attn_dims {
    int64_t batch, seq, heads, head_dim, dim;
} attn_dims;

static dt_status attention_common(const op_ctx *ctx, const dt_tensor *qkv, const dt_tensor *out,
                                  const dt_tensor *lse, int64_t n_heads, float scale,
                                  attn_dims *d) {
    OP_TRY(op_view(ctx, "qkv", qkv, DT_F32));
    char s[96], e[96];
    if (qkv->ndim != 3 || qkv->shape[2] % 3)
        return op_fail(ctx, "qkv %s must be [B, T, 3*D]", op_shape(qkv, s, sizeof s));
    d->batch = qkv->shape[0];
    d->seq = qkv->shape[1];
    d->dim = qkv->shape[2] / 3;
    if (n_heads < 1 || d->dim % n_heads)
        return op_fail(ctx, "D = %lld is not divisible into %lld heads", (long long)d->dim,
                       (long long)n_heads);
    d->heads = n_heads;
    d->head_dim = d->dim / n_heads;
    OP_TRY(op_finite(ctx, "scale", scale));
    snprintf(e, sizeof e, "[B, T, D] = [%lld, %lld, %lld]", (long long)d->batch, (long long)d->seq,
             (long long)d->dim);
    OP_TRY(op_view_n(ctx, "out", out, DT_F32, op_mul(op_mul(d->batch, d->seq), d->dim), e));
    snprintf(e, sizeof e, "[B, H, T] = [%lld, %lld, %lld]", (long long)d->batch,
             (long long)d->heads, (long long)d->seq);
    return op_view_n(ctx, "lse", lse, DT_F32, op_mul(op_mul(d->batch, d->heads), d->seq), e);
}

dt_status dt_attention_fwd(dt_device *dev, dt_tensor qkv, dt_tensor out, dt_tensor lse,
                           int64_t n_heads, float scale) {
    op_ctx ctx = {"attention_fwd", dev};
    attn_dims d = {0};
    OP_TRY(attention_common(&ctx, &qkv, &out, &lse, n_heads, scale, &d));
    return OP_DISPATCH(&ctx, attention_fwd,
                       (dev, &qkv, &out, &lse, d.batch, d.seq, d.heads, d.head_dim, scale));
}

dt_status dt_attention_bwd(dt_device *dev, dt_tensor qkv, dt_tensor out, dt_tensor dout,
                           dt_tensor lse, dt_tensor dqkv, dt_tensor scratch, int64_t n_heads,
                           float scale) {
    op_ctx ctx = {"attention_bwd", dev};
    attn_dims d = {0};
    OP_TRY(attention_common(&ctx, &qkv, &out, &lse, n_heads, scale, &d));
    OP_TRY(op_view_n(&ctx, "dout", &dout, DT_F32, dt_tensor_numel(&out), "same as out"));
    OP_TRY(op_view_n(&ctx, "dqkv", &dqkv, DT_F32, dt_tensor_numel(&qkv), "same as qkv"));
    OP_TRY(op_view_n(&ctx, "scratch", &scratch, DT_F32, dt_tensor_numel(&lse), "same as lse"));
    return OP_DISPATCH(&ctx, attention_bwd,
                       (dev, &qkv, &out, &dout, &lse, &dqkv, &scratch, d.batch, d.seq, d.heads,
                        d.head_dim, scale));
}

/* ---- SwiGLU -------------------------------------------------------------- */

static dt_status swiglu_common(const op_ctx *ctx, const dt_tensor *h, int64_t *n, int64_t *f) {
    OP_TRY(op_view(ctx, "h", h, DT_F32));
    if (op_cols(h) % 2) {
        char s[96];
        return op_fail(ctx, "h %s must be [n, 2F] (an even last dimension)",
                       op_shape(h, s, sizeof s));
    }
    *n = op_rows(h);
    *f = op_cols(h) / 2;
    return DT_OK;
}

dt_status dt_swiglu_fwd(dt_device *dev, dt_tensor h, dt_tensor out) {
    op_ctx ctx = {"swiglu_fwd", dev};
    int64_t n = 0, f = 0;
    OP_TRY(swiglu_common(&ctx, &h, &n, &f));
    char e[96];
    snprintf(e, sizeof e, "[n, F] = [%lld, %lld]", (long long)n, (long long)f);
    OP_TRY(op_view_n(&ctx, "out", &out, DT_F32, op_mul(n, f), e));
    return OP_DISPATCH(&ctx, swiglu_fwd, (dev, &h, &out, n, f));
}

dt_status dt_swiglu_bwd(dt_device *dev, dt_tensor h, dt_tensor dout, dt_tensor dh) {
    op_ctx ctx = {"swiglu_bwd", dev};
    int64_t n = 0, f = 0;
    OP_TRY(swiglu_common(&ctx, &h, &n, &f));
    char e[96];
    snprintf(e, sizeof e, "[n, F] = [%lld, %lld]", (long long)n, (long long)f);
    OP_TRY(op_view_n(&ctx, "dout", &dout, DT_F32, op_mul(n, f), e));
    OP_TRY(op_view_n(&ctx, "dh", &dh, DT_F32, op_mul(n, op_mul(2, f)), "same as h"));
    return OP_DISPATCH(&ctx, swiglu_bwd, (dev, &h, &dout, &dh, n, f));
}

/* ---- elementwise --------------------------------------------------------- */

dt_status dt_add(dt_device *dev, dt_tensor a, dt_tensor b, dt_tensor y) {
    op_ctx ctx = {"add", dev};
    OP_TRY(op_view(&ctx, "a", &a, DT_F32));
    int64_t n = dt_tensor_numel(&a);
    OP_TRY(op_view_n(&ctx, "b", &b, DT_F32, n, "same as a"));
    OP_TRY(op_view_n(&ctx, "y", &y, DT_F32, n, "same as a"));
    return OP_DISPATCH(&ctx, add, (dev, &a, &b, &y, n));
}

dt_status dt_scale(dt_device *dev, dt_tensor x, float alpha, dt_tensor y) {
    op_ctx ctx = {"scale", dev};
    OP_TRY(op_view(&ctx, "x", &x, DT_F32));
    int64_t n = dt_tensor_numel(&x);
    OP_TRY(op_view_n(&ctx, "y", &y, DT_F32, n, "same as x"));
    OP_TRY(op_finite(&ctx, "alpha", alpha));
    return OP_DISPATCH(&ctx, scale, (dev, &x, alpha, &y, n));
}

dt_status dt_copy(dt_device *dev, dt_tensor src, dt_tensor dst) {
    op_ctx ctx = {"copy", dev};
    OP_TRY(op_view(&ctx, "src", &src, src.dtype));
    OP_TRY(op_view(&ctx, "dst", &dst, dst.dtype));
    if (dt_tensor_bytes(&src) != dt_tensor_bytes(&dst)) {
        char s1[96], s2[96];
        return op_fail(&ctx, "src %s and dst %s differ in size", op_shape(&src, s1, sizeof s1),
                       op_shape(&dst, s2, sizeof s2));
    }
    if (src.buf == dst.buf && src.offset == dst.offset) return DT_OK;
    return dt_buffer_copy(dst.buf, dst.offset, src.buf, src.offset, dt_tensor_bytes(&src));
}

dt_status dt_fill(dt_device *dev, dt_tensor y, float value) {
    op_ctx ctx = {"fill", dev};
    OP_TRY(op_view(&ctx, "y", &y, DT_F32));
    return OP_DISPATCH(&ctx, fill, (dev, &y, value, dt_tensor_numel(&y)));
}

/* ---- cross-entropy ------------------------------------------------------- */

dt_status dt_softmax_xent(dt_device *dev, dt_tensor logits, dt_tensor targets, dt_tensor losses,
                          dt_tensor dlogits, float grad_scale) {
    op_ctx ctx = {"softmax_xent", dev};
    OP_TRY(op_view(&ctx, "logits", &logits, DT_F32));
    int64_t n = op_rows(&logits), vocab = op_cols(&logits);
    char e[96];
    snprintf(e, sizeof e, "[n] = [%lld]", (long long)n);
    OP_TRY(op_view_n(&ctx, "targets", &targets, DT_I32, n, e));
    OP_TRY(op_view_n(&ctx, "losses", &losses, DT_F32, n, e));
    const dt_tensor *dl = NULL;
    if (dlogits.buf) {
        OP_TRY(op_view_n(&ctx, "dlogits", &dlogits, DT_F32, op_mul(n, vocab), "same as logits"));
        OP_TRY(op_finite(&ctx, "grad_scale", grad_scale));
        dl = &dlogits;
    }
    return OP_DISPATCH(&ctx, softmax_xent,
                       (dev, &logits, &targets, &losses, dl, n, vocab, grad_scale));
}

/* ---- reductions ---------------------------------------------------------- */

dt_status dt_sum_squares(dt_device *dev, dt_tensor x, dt_tensor out) {
    op_ctx ctx = {"sum_squares", dev};
    OP_TRY(op_view(&ctx, "x", &x, DT_F32));
    OP_TRY(op_view_n(&ctx, "out", &out, DT_F32, 1, "one element"));
    return OP_DISPATCH(&ctx, sum_squares, (dev, &x, &out, dt_tensor_numel(&x)));
}

dt_status dt_check_finite(dt_device *dev, dt_tensor x, dt_tensor out) {
    op_ctx ctx = {"check_finite", dev};
    OP_TRY(op_view(&ctx, "x", &x, DT_F32));
    OP_TRY(op_view_n(&ctx, "out", &out, DT_F32, 1, "one element"));
    return OP_DISPATCH(&ctx, check_finite, (dev, &x, &out, dt_tensor_numel(&x)));
}

/* ---- AdamW --------------------------------------------------------------- */

dt_status dt_adamw(dt_device *dev, dt_tensor p, dt_tensor g, dt_tensor m, dt_tensor v,
                   const dt_adamw_params *hp) {
    op_ctx ctx = {"adamw", dev};
    if (!hp) return op_fail(&ctx, "params is NULL");
    OP_TRY(op_view(&ctx, "p", &p, DT_F32));
    int64_t n = dt_tensor_numel(&p);
    OP_TRY(op_view_n(&ctx, "g", &g, DT_F32, n, "same as p"));
    OP_TRY(op_view_n(&ctx, "m", &m, DT_F32, n, "same as p"));
    OP_TRY(op_view_n(&ctx, "v", &v, DT_F32, n, "same as p"));
    OP_TRY(op_finite(&ctx, "lr", hp->lr));
    OP_TRY(op_finite(&ctx, "weight_decay", hp->weight_decay));
    OP_TRY(op_finite(&ctx, "grad_scale", hp->grad_scale));
    if (!(hp->beta1 >= 0.0f && hp->beta1 < 1.0f) || !(hp->beta2 >= 0.0f && hp->beta2 < 1.0f))
        return op_fail(&ctx, "beta1 %g and beta2 %g must lie in [0, 1)", (double)hp->beta1,
                       (double)hp->beta2);
    if (!(hp->bias1 > 0.0f && hp->bias1 <= 1.0f) || !(hp->bias2 > 0.0f && hp->bias2 <= 1.0f))
        return op_fail(&ctx, "bias corrections %g and %g must lie in (0, 1]", (double)hp->bias1,
                       (double)hp->bias2);
    if (!(hp->eps > 0.0f) || !(hp->eps < 1.0f))
        return op_fail(&ctx, "eps %g must lie in (0, 1)", (double)hp->eps);
    return OP_DISPATCH(&ctx, adamw, (dev, &p, &g, &m, &v, n, hp));
}
