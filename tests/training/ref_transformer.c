/* Double-precision reference transformer (see ref_transformer.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/training/ref_transformer.h"

/* y[n][o] = sum_i x[n][i] W[o][i] */
static void linear(const double *x, const double *w, double *y, int64_t n, int64_t in,
                   int64_t out) {
    for (int64_t r = 0; r < n; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = 0.0;
            for (int64_t i = 0; i < in; i++) s += x[r * in + i] * w[o * in + i];
            y[r * out + o] = s;
        }
}

static void rmsnorm(const double *x, const double *w, double *y, int64_t n, int64_t d) {
    for (int64_t r = 0; r < n; r++) {
        double ss = 0.0;
        for (int64_t i = 0; i < d; i++) ss += x[r * d + i] * x[r * d + i];
        double rstd = 1.0 / sqrt(ss / (double)d + (double)MODEL_NORM_EPS);
        for (int64_t i = 0; i < d; i++) y[r * d + i] = x[r * d + i] * rstd * w[i];
    }
}

/* Interleaved pairs, angle pos * theta^(-2i/hd), on the q and k heads. */
static void rope(double *qkv, int64_t batch, int64_t seq, int64_t d, int64_t hd, double theta) {
    for (int64_t b = 0; b < batch; b++)
        for (int64_t t = 0; t < seq; t++) {
            double *row = qkv + (b * seq + t) * 3 * d;
            for (int64_t c0 = 0; c0 < 2 * d; c0 += hd)
                for (int64_t i = 0; i < hd / 2; i++) {
                    double a = (double)t * pow(theta, -2.0 * (double)i / (double)hd);
                    double x0 = row[c0 + 2 * i], x1 = row[c0 + 2 * i + 1];
                    row[c0 + 2 * i] = x0 * cos(a) - x1 * sin(a);
                    row[c0 + 2 * i + 1] = x0 * sin(a) + x1 * cos(a);
                }
        }
}

static void attention(const double *qkv, double *out, int64_t batch, int64_t seq, int64_t d,
                      int64_t heads, double *p) {
    int64_t hd = d / heads;
    double scale = 1.0 / sqrt((double)hd);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t h = 0; h < heads; h++)
            for (int64_t t = 0; t < seq; t++) {
                const double *q = qkv + (b * seq + t) * 3 * d + h * hd;
                double mx = -INFINITY, sum = 0.0;
                for (int64_t u = 0; u <= t; u++) {
                    const double *k = qkv + (b * seq + u) * 3 * d + d + h * hd;
                    double s = 0.0;
                    for (int64_t i = 0; i < hd; i++) s += q[i] * k[i];
                    p[u] = s * scale;
                    if (p[u] > mx) mx = p[u];
                }
                for (int64_t u = 0; u <= t; u++) sum += (p[u] = exp(p[u] - mx));
                double *o = out + (b * seq + t) * d + h * hd;
                for (int64_t i = 0; i < hd; i++) o[i] = 0.0;
                for (int64_t u = 0; u <= t; u++) {
                    const double *v = qkv + (b * seq + u) * 3 * d + 2 * d + h * hd;
                    for (int64_t i = 0; i < hd; i++) o[i] += p[u] / sum * v[i];
                }
            }
}

double ref_model_loss(const model_config *c, const model_layout *l, const double *w,
                      const int32_t *tokens, const int32_t *targets, int64_t batch) {
    const int64_t seq = c->seq_len, n = batch * seq, d = c->dim, f = c->ffn_dim;
    const int64_t v = c->vocab_size, hd = d / c->n_heads;
    const double *p[64];
    int64_t at = 0;
    for (int i = 0; i < l->n_params && i < 64; i++) {
        p[i] = w + at;
        at += l->params[i].numel;
    }
    double *x = malloc((size_t)(n * d) * 8), *xn = malloc((size_t)(n * d) * 8);
    double *qkv = malloc((size_t)(n * 3 * d) * 8), *att = malloc((size_t)(n * d) * 8);
    double *tmp = malloc((size_t)(n * d) * 8), *hh = malloc((size_t)(n * 2 * f) * 8);
    double *g = malloc((size_t)(n * f) * 8), *logits = malloc((size_t)(n * v) * 8);
    double *prob = malloc((size_t)seq * 8);
    for (int64_t r = 0; r < n; r++) memcpy(x + r * d, p[0] + (int64_t)tokens[r] * d, (size_t)d * 8);
    for (int64_t layer = 0; layer < c->n_layers; layer++) {
        const double *const *lp = p + 1 + 6 * layer;
        rmsnorm(x, lp[0], xn, n, d);
        linear(xn, lp[1], qkv, n, d, 3 * d);
        rope(qkv, batch, seq, d, hd, c->rope_theta);
        attention(qkv, att, batch, seq, d, c->n_heads, prob);
        linear(att, lp[2], tmp, n, d, d);
        for (int64_t i = 0; i < n * d; i++) x[i] += tmp[i];
        rmsnorm(x, lp[3], xn, n, d);
        linear(xn, lp[4], hh, n, d, 2 * f);
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = 0; j < f; j++) {
                double gate = hh[r * 2 * f + j], up = hh[r * 2 * f + f + j];
                g[r * f + j] = gate / (1.0 + exp(-gate)) * up;
            }
        linear(g, lp[5], tmp, n, f, d);
        for (int64_t i = 0; i < n * d; i++) x[i] += tmp[i];
    }
    int final = 1 + 6 * (int)c->n_layers;
    rmsnorm(x, p[final], xn, n, d);
    linear(xn, c->tie_embeddings ? p[0] : p[final + 1], logits, n, d, v);
    double loss = 0.0;
    for (int64_t r = 0; r < n; r++) {
        const double *z = logits + r * v;
        double mx = z[0], s = 0.0;
        for (int64_t j = 1; j < v; j++) mx = z[j] > mx ? z[j] : mx;
        for (int64_t j = 0; j < v; j++) s += exp(z[j] - mx);
        loss += mx + log(s) - z[targets[r]];
    }
    free(x), free(xn), free(qkv), free(att), free(tmp), free(hh), free(g), free(logits), free(prob);
    return loss / (double)n;
}
