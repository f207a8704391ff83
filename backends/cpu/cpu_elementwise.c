/* Elementwise ops, reductions and AdamW: memory-bound, so each is one pass
 * over its operands, split across the OpenMP team in contiguous ranges.
 *
 * Reductions cut x into a fixed number of chunks that does not depend on the
 * thread count, reduce each chunk in fixed lanes, and combine the chunk
 * results in order: the same bits with 1 or 64 threads. */
#include <math.h>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_vec_math.h"

/* Reductions: this many chunks, whatever n and the thread count. */
#define REDUCE_CHUNKS 64

dt_status cpu_add(dt_device *dev, const dt_tensor *a, const dt_tensor *b, const dt_tensor *y,
                  int64_t n) {
    (void)dev;
    const float *pa = cpu_f32(a), *pb = cpu_f32(b);
    float *py = cpu_f32(y); /* may alias a or b: each element is read before it is written */
#pragma omp parallel for schedule(static) if (n >= CPU_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) py[i] = pa[i] + pb[i];
    return DT_OK;
}

dt_status cpu_scale(dt_device *dev, const dt_tensor *x, float alpha, const dt_tensor *y,
                    int64_t n) {
    (void)dev;
    const float *px = cpu_f32(x);
    float *py = cpu_f32(y);
#pragma omp parallel for schedule(static) if (n >= CPU_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) py[i] = alpha * px[i];
    return DT_OK;
}

dt_status cpu_fill(dt_device *dev, const dt_tensor *y, float value, int64_t n) {
    (void)dev;
    float *py = cpu_f32(y);
#pragma omp parallel for schedule(static) if (n >= CPU_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) py[i] = value;
    return DT_OK;
}

static inline void chunk_range(int64_t n, int64_t c, int64_t *lo, int64_t *hi) {
    *lo = n * c / REDUCE_CHUNKS;
    *hi = n * (c + 1) / REDUCE_CHUNKS;
}

dt_status cpu_sum_squares(dt_device *dev, const dt_tensor *x, const dt_tensor *out, int64_t n) {
    (void)dev;
    const float *px = cpu_f32(x);
    double part[REDUCE_CHUNKS];
    /* Squares are summed in double: gradient norms over millions of elements
     * lose several digits in float. Eight lanes are one AVX-512 register. */
#pragma omp parallel for schedule(static) if (n >= CPU_PARALLEL_MIN)
    for (int64_t c = 0; c < REDUCE_CHUNKS; c++) {
        int64_t lo, hi;
        chunk_range(n, c, &lo, &hi);
        double acc[8] = {0};
        int64_t i = lo;
        for (; i + 8 <= hi; i += 8)
            for (int j = 0; j < 8; j++) acc[j] += (double)px[i + j] * (double)px[i + j];
        for (int j = 0; i + j < hi; j++) acc[j] += (double)px[i + j] * (double)px[i + j];
        part[c] = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }
    double total = 0.0;
    for (int c = 0; c < REDUCE_CHUNKS; c++) total += part[c];
    *cpu_f32(out) = (float)total;
    return DT_OK;
}

dt_status cpu_check_finite(dt_device *dev, const dt_tensor *x, const dt_tensor *out, int64_t n) {
    (void)dev;
    const uint32_t *bits = (const uint32_t *)cpu_f32(x);
    uint32_t bad = 0;
    /* A float is inf or NaN exactly when its exponent bits are all ones; the
     * integer test vectorises where isfinite() would not. */
#pragma omp parallel for schedule(static) reduction(| : bad) if (n >= CPU_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) bad |= (bits[i] & 0x7f800000u) == 0x7f800000u;
    *cpu_f32(out) = bad ? 0.0f : 1.0f;
    return DT_OK;
}

dt_status cpu_adamw(dt_device *dev, const dt_tensor *p, const dt_tensor *g, const dt_tensor *m,
                    const dt_tensor *v, int64_t n, const dt_adamw_params *hp) {
    (void)dev;
    float *pp = cpu_f32(p), *pm = cpu_f32(m), *pv = cpu_f32(v);
    const float *pg = cpu_f32(g);
    const float b1 = hp->beta1, b2 = hp->beta2, one_b1 = 1.0f - hp->beta1,
                one_b2 = 1.0f - hp->beta2;
    const float decay = 1.0f - hp->lr * hp->weight_decay, lr = hp->lr, eps = hp->eps;
    const float bias1 = hp->bias1, bias2 = hp->bias2, gs = hp->grad_scale;
    /* The order of ops.h, one rounding per operation (no contraction in this
     * file): every backend can reproduce these bits if it wants to. */
#pragma omp parallel for schedule(static) if (n >= CPU_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        float gi = gs * pg[i];
        float mi = b1 * pm[i] + one_b1 * gi;
        float vi = b2 * pv[i] + one_b2 * (gi * gi);
        pm[i] = mi;
        pv[i] = vi;
        pp[i] = pp[i] * decay - lr * (mi / bias1) / (sqrtf(vi / bias2) + eps);
    }
    return DT_OK;
}
