/* Double-precision reference of the GEMM and transformer ops, written from
 * the semantics in include/distro/ops.h (not from any backend). Plain loops
 * in the most obvious order: this code is the definition, not a kernel. */
#include <math.h>
#include <string.h>

#include "tests/ref_ops.h"

/* ---- GEMM ------------------------------------------------------------------ */

void ref_gemm_normalise(const dt_gemm_desc *in, dt_gemm_desc *d) {
    *d = *in;
    if (d->batch < 1) d->batch = 1;
    int64_t a_rows = d->trans_a ? d->k : d->m, a_w = d->trans_a ? d->m : d->k;
    int64_t b_rows = d->trans_b ? d->n : d->k, b_w = d->trans_b ? d->k : d->n;
    if (d->lda == 0) d->lda = a_w;
    if (d->ldb == 0) d->ldb = b_w;
    if (d->ldc == 0) d->ldc = d->n;
    if (d->batch > 1) {
        if (d->stride_a == 0) d->stride_a = a_rows * d->lda;
        if (d->stride_b == 0) d->stride_b = b_rows * d->ldb;
        if (d->stride_c == 0) d->stride_c = d->m * d->ldc;
    }
}

int64_t ref_gemm_extent_a(const dt_gemm_desc *d) {
    int64_t rows = d->trans_a ? d->k : d->m, w = d->trans_a ? d->m : d->k;
    return (d->batch - 1) * d->stride_a + (rows - 1) * d->lda + w;
}

int64_t ref_gemm_extent_b(const dt_gemm_desc *d) {
    int64_t rows = d->trans_b ? d->n : d->k, w = d->trans_b ? d->k : d->n;
    return (d->batch - 1) * d->stride_b + (rows - 1) * d->ldb + w;
}

int64_t ref_gemm_extent_c(const dt_gemm_desc *d) {
    return (d->batch - 1) * d->stride_c + (d->m - 1) * d->ldc + d->n;
}

void ref_gemm(const dt_gemm_desc *d, const double *a, const double *b, double *c) {
    for (int64_t bi = 0; bi < d->batch; bi++) {
        const double *ab = a + bi * d->stride_a, *bb = b + bi * d->stride_b;
        double *cb = c + bi * d->stride_c;
        for (int64_t i = 0; i < d->m; i++) {
            for (int64_t j = 0; j < d->n; j++) {
                double s = 0.0;
                for (int64_t p = 0; p < d->k; p++) {
                    double av = d->trans_a ? ab[p * d->lda + i] : ab[i * d->lda + p];
                    double bv = d->trans_b ? bb[j * d->ldb + p] : bb[p * d->ldb + j];
                    s += av * bv;
                }
                double *cij = &cb[i * d->ldc + j];
                /* beta == 0: C is not read, so NaN in C must not propagate. */
                *cij = (double)d->alpha * s + (d->beta == 0.0f ? 0.0 : (double)d->beta * *cij);
            }
        }
    }
}

/* ---- embedding ---------------------------------------------------------------- */

void ref_embedding_fwd(const int32_t *tokens, int64_t n, const double *table, int64_t vocab,
                       int64_t dim, double *out) {
    for (int64_t t = 0; t < n; t++) {
        int32_t tok = tokens[t];
        for (int64_t j = 0; j < dim; j++)
            out[t * dim + j] = tok >= 0 && tok < vocab ? table[(int64_t)tok * dim + j] : 0.0;
    }
}

void ref_embedding_bwd(const int32_t *tokens, int64_t n, const double *dout, int64_t vocab,
                       int64_t dim, double *dtable) {
    for (int64_t t = 0; t < n; t++) {
        int32_t tok = tokens[t];
        if (tok < 0 || tok >= vocab) continue;
        for (int64_t j = 0; j < dim; j++) dtable[(int64_t)tok * dim + j] += dout[t * dim + j];
    }
}

/* ---- RMSNorm ------------------------------------------------------------------- */

void ref_rmsnorm_fwd(const double *x, const double *w, int64_t rows, int64_t cols, double eps,
                     double *y, double *rstd) {
    for (int64_t r = 0; r < rows; r++) {
        const double *xr = x + r * cols;
        double ss = 0.0;
        for (int64_t j = 0; j < cols; j++) ss += xr[j] * xr[j];
        double rs = 1.0 / sqrt(ss / (double)cols + eps);
        rstd[r] = rs;
        for (int64_t j = 0; j < cols; j++) y[r * cols + j] = xr[j] * rs * w[j];
    }
}

/* y_j = x_j r w_j with r = (mean(x^2) + eps)^-1/2, dr/dx_i = -r^3 x_i / cols:
 * dx_i = r w_i dy_i - x_i r^3 / cols * sum_j dy_j w_j x_j;  dw_j += dy_j x_j r. */
void ref_rmsnorm_bwd(const double *x, const double *w, const double *rstd, const double *dy,
                     int64_t rows, int64_t cols, double *dx, double *dw) {
    for (int64_t r = 0; r < rows; r++) {
        const double *xr = x + r * cols, *dyr = dy + r * cols;
        double rs = rstd[r], dot = 0.0;
        for (int64_t j = 0; j < cols; j++) dot += dyr[j] * w[j] * xr[j];
        for (int64_t j = 0; j < cols; j++) {
            dx[r * cols + j] = rs * w[j] * dyr[j] - xr[j] * rs * rs * rs * dot / (double)cols;
            dw[j] += dyr[j] * xr[j] * rs;
        }
    }
}

/* ---- RoPE ------------------------------------------------------------------------ */

void ref_rope(double *x, int64_t rows, int64_t width, const double *table, int64_t seq_len,
              int64_t head_dim, int64_t rot_cols, int inverse) {
    int64_t half = head_dim / 2;
    for (int64_t r = 0; r < rows; r++) {
        int64_t pos = r % seq_len;
        for (int64_t h0 = 0; h0 < rot_cols; h0 += head_dim) {
            for (int64_t i = 0; i < half; i++) {
                double c = table[(pos * half + i) * 2], s = table[(pos * half + i) * 2 + 1];
                double *p = x + r * width + h0 + 2 * i;
                double x0 = p[0], x1 = p[1];
                if (!inverse) {
                    p[0] = x0 * c - x1 * s;
                    p[1] = x0 * s + x1 * c;
                } else {
                    p[0] = x0 * c + x1 * s;
                    p[1] = -x0 * s + x1 * c;
                }
            }
        }
    }
}

/* ---- attention -------------------------------------------------------------------- */

/* Scores of query t against keys 0..t, and their log-sum-exp. */
static double attn_scores(const double *qkv, int64_t b, int64_t t, int64_t h, int64_t T, int64_t H,
                          int64_t hd, double scale, double *s) {
    int64_t D = H * hd, row = 3 * D;
    const double *q = qkv + (b * T + t) * row + h * hd;
    double mx = -INFINITY;
    for (int64_t u = 0; u <= t; u++) {
        const double *k = qkv + (b * T + u) * row + D + h * hd;
        double dot = 0.0;
        for (int64_t i = 0; i < hd; i++) dot += q[i] * k[i];
        s[u] = scale * dot;
        if (s[u] > mx) mx = s[u];
    }
    double z = 0.0;
    for (int64_t u = 0; u <= t; u++) z += exp(s[u] - mx);
    return mx + log(z);
}

void ref_attention_fwd(const double *qkv, int64_t B, int64_t T, int64_t H, int64_t hd, double scale,
                       double *out, double *lse) {
    int64_t D = H * hd, row = 3 * D;
    double s[4096];
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++) {
                double l = attn_scores(qkv, b, t, h, T, H, hd, scale, s);
                lse[(b * H + h) * T + t] = l;
                double *o = out + (b * T + t) * D + h * hd;
                for (int64_t i = 0; i < hd; i++) o[i] = 0.0;
                for (int64_t u = 0; u <= t; u++) {
                    double p = exp(s[u] - l);
                    const double *v = qkv + (b * T + u) * row + 2 * D + h * hd;
                    for (int64_t i = 0; i < hd; i++) o[i] += p * v[i];
                }
            }
}

/* With p = softmax(s), dp_u = dout . v_u, ds_u = p_u (dp_u - sum_w p_w dp_w):
 * dq_t = scale sum_u ds_u k_u, dk_u += scale ds_u q_t, dv_u += p_u dout_t. */
void ref_attention_bwd(const double *qkv, const double *dout, int64_t B, int64_t T, int64_t H,
                       int64_t hd, double scale, double *dqkv) {
    int64_t D = H * hd, row = 3 * D;
    double s[4096], dp[4096];
    memset(dqkv, 0, sizeof(double) * (size_t)(B * T * row));
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++) {
                double l = attn_scores(qkv, b, t, h, T, H, hd, scale, s);
                const double *q = qkv + (b * T + t) * row + h * hd;
                const double *go = dout + (b * T + t) * D + h * hd;
                double dsum = 0.0;
                for (int64_t u = 0; u <= t; u++) {
                    s[u] = exp(s[u] - l); /* now p_u */
                    const double *v = qkv + (b * T + u) * row + 2 * D + h * hd;
                    double d = 0.0;
                    for (int64_t i = 0; i < hd; i++) d += go[i] * v[i];
                    dp[u] = d;
                    dsum += s[u] * d;
                }
                double *dq = dqkv + (b * T + t) * row + h * hd;
                for (int64_t u = 0; u <= t; u++) {
                    double ds = s[u] * (dp[u] - dsum);
                    const double *k = qkv + (b * T + u) * row + D + h * hd;
                    double *dk = dqkv + (b * T + u) * row + D + h * hd;
                    double *dv = dqkv + (b * T + u) * row + 2 * D + h * hd;
                    for (int64_t i = 0; i < hd; i++) {
                        dq[i] += scale * ds * k[i];
                        dk[i] += scale * ds * q[i];
                        dv[i] += s[u] * go[i];
                    }
                }
            }
}

/* ---- SwiGLU ------------------------------------------------------------------------ */

static double sigmoid(double g) {
    return 1.0 / (1.0 + exp(-g));
}

void ref_swiglu_fwd(const double *h, int64_t n, int64_t f, double *out) {
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < f; j++) {
            double g = h[r * 2 * f + j], u = h[r * 2 * f + f + j];
            out[r * f + j] = g * sigmoid(g) * u;
        }
}

void ref_swiglu_bwd(const double *h, const double *dout, int64_t n, int64_t f, double *dh) {
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < f; j++) {
            double g = h[r * 2 * f + j], u = h[r * 2 * f + f + j], d = dout[r * f + j];
            double sg = sigmoid(g);
            dh[r * 2 * f + j] = d * u * (sg + g * sg * (1.0 - sg));
            dh[r * 2 * f + f + j] = d * g * sg;
        }
}

/* ---- cross-entropy ---------------------------------------------------------------------- */

void ref_softmax_xent(const double *logits, const int32_t *targets, int64_t n, int64_t vocab,
                      double grad_scale, double *losses, double *dlogits) {
    for (int64_t r = 0; r < n; r++) {
        const double *l = logits + r * vocab;
        double mx = -INFINITY, z = 0.0;
        for (int64_t j = 0; j < vocab; j++)
            if (l[j] > mx) mx = l[j];
        for (int64_t j = 0; j < vocab; j++) z += exp(l[j] - mx);
        double lse = mx + log(z);
        int32_t t = targets[r];
        int valid = t >= 0 && t < vocab;
        losses[r] = valid ? lse - l[t] : NAN;
        if (!dlogits) continue;
        for (int64_t j = 0; j < vocab; j++)
            dlogits[r * vocab + j] =
                valid ? (exp(l[j] - lse) - (j == t ? 1.0 : 0.0)) * grad_scale : 0.0;
    }
}

/* ---- reductions and AdamW ------------------------------------------------------------------ */

double ref_sum_squares(const double *x, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}

int ref_check_finite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

void ref_adamw(double *p, const double *g, double *m, double *v, int64_t n,
               const dt_adamw_params *hp) {
    double b1 = hp->beta1, b2 = hp->beta2;
    for (int64_t i = 0; i < n; i++) {
        double gs = (double)hp->grad_scale * g[i];
        m[i] = b1 * m[i] + (1.0 - b1) * gs;
        v[i] = b2 * v[i] + (1.0 - b2) * gs * gs;
        double mh = m[i] / (double)hp->bias1, vh = v[i] / (double)hp->bias2;
        p[i] = p[i] * (1.0 - (double)hp->lr * (double)hp->weight_decay) -
               (double)hp->lr * mh / (sqrt(vh) + (double)hp->eps);
    }
}
