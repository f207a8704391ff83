/* Double-precision reference of the DeMo ops (momentum, tile DCT encode,
 * per-tile top-k, sparse decode-and-subtract), from include/distro/ops.h
 * and DESIGN.md section 3. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/ref_ops.h"

void ref_demo_momentum(double *d, const double *g, int64_t n, double beta, double lr) {
    for (int64_t i = 0; i < n; i++) d[i] = beta * d[i] + lr * g[i];
}

/* First element of tile t in the rows x cols tensor. */
static const double *tile_origin(const dt_tile_plan *p, int64_t t, const double *x) {
    int64_t r0 = (t / p->tiles_per_row) * p->tile_rows, c0 = (t % p->tiles_per_row) * p->tile_cols;
    return x + r0 * p->cols + c0;
}

/* X[a][b] = sum_s sum_m F1[s][a] x[s][m] F2[m][b]. */
void ref_demo_encode(const dt_tile_plan *p, const double *x, const double *f1, const double *f2,
                     double *coeffs) {
    int64_t n1 = p->tile_rows, n2 = p->tile_cols;
    double *z = malloc(sizeof(double) * (size_t)(n1 * n2));
    if (!z) abort();
    for (int64_t t = 0; t < p->n_tiles; t++) {
        const double *xt = tile_origin(p, t, x);
        /* z = x F2 */
        for (int64_t s = 0; s < n1; s++)
            for (int64_t b = 0; b < n2; b++) {
                double acc = 0.0;
                for (int64_t m = 0; m < n2; m++) acc += xt[s * p->cols + m] * f2[m * n2 + b];
                z[s * n2 + b] = acc;
            }
        /* X = F1^T z */
        for (int64_t a = 0; a < n1; a++)
            for (int64_t b = 0; b < n2; b++) {
                double acc = 0.0;
                for (int64_t s = 0; s < n1; s++) acc += f1[s * n1 + a] * z[s * n2 + b];
                coeffs[t * p->tile_size + a * n2 + b] = acc;
            }
    }
    free(z);
}

typedef struct mag_idx {
    float mag;
    int32_t idx;
} mag_idx;

/* Larger |value| first; among equal magnitudes the lower index first. */
static int by_mag_then_index(const void *pa, const void *pb) {
    const mag_idx *a = pa, *b = pb;
    if (a->mag != b->mag) return a->mag > b->mag ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int by_index(const void *pa, const void *pb) {
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return (a > b) - (a < b);
}

void ref_demo_topk(const float *coeffs, int64_t n_tiles, int64_t size, int64_t k, int32_t *idx,
                   float *vals) {
    mag_idx *m = malloc(sizeof(mag_idx) * (size_t)size);
    if (!m) abort();
    for (int64_t t = 0; t < n_tiles; t++) {
        const float *ct = coeffs + t * size;
        for (int64_t i = 0; i < size; i++) {
            m[i].mag = fabsf(ct[i]);
            m[i].idx = (int32_t)i;
        }
        qsort(m, (size_t)size, sizeof *m, by_mag_then_index);
        int32_t *it = idx + t * k;
        for (int64_t e = 0; e < k; e++) it[e] = m[e].idx;
        qsort(it, (size_t)k, sizeof *it, by_index);
        for (int64_t e = 0; e < k; e++) vals[t * k + e] = ct[it[e]];
    }
    free(m);
}

/* Per tile: A zero except A[idx] = vals; D -= F1 A F2^T. */
void ref_demo_decode_sub(const dt_tile_plan *p, const int32_t *idx, const double *vals, int64_t k,
                         const double *f1, const double *f2, double *d) {
    int64_t n1 = p->tile_rows, n2 = p->tile_cols, S = p->tile_size;
    double *a = malloc(sizeof(double) * (size_t)S * 2);
    if (!a) abort();
    double *y = a + S;
    for (int64_t t = 0; t < p->n_tiles; t++) {
        memset(a, 0, sizeof(double) * (size_t)S);
        for (int64_t e = 0; e < k; e++) {
            int32_t i = idx[t * k + e];
            if (i >= 0 && i < S) a[i] = vals[t * k + e];
        }
        /* y = F1 A */
        for (int64_t h = 0; h < n1; h++)
            for (int64_t b = 0; b < n2; b++) {
                double acc = 0.0;
                for (int64_t q = 0; q < n1; q++) acc += f1[h * n1 + q] * a[q * n2 + b];
                y[h * n2 + b] = acc;
            }
        int64_t r0 = (t / p->tiles_per_row) * n1, c0 = (t % p->tiles_per_row) * n2;
        for (int64_t h = 0; h < n1; h++)
            for (int64_t w = 0; w < n2; w++) {
                double acc = 0.0;
                for (int64_t b = 0; b < n2; b++) acc += y[h * n2 + b] * f2[w * n2 + b];
                d[(r0 + h) * p->cols + c0 + w] -= acc;
            }
    }
    free(a);
}
