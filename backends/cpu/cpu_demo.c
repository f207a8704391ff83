/* The DeMo ops on the CPU: momentum, tile DCT encode, per-tile top-k, sparse
 * decode-and-subtract, and the canonical apply (which is the runtime's host
 * reference itself). Tiles are independent: every op but momentum is one
 * parallel loop over tiles, each tile done by one thread start to finish. */
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "backends/cpu/cpu_backend.h"

#define PARALLEL_MIN 32768

dt_status cpu_demo_momentum(dt_device *dev, const dt_tensor *d, const dt_tensor *g, int64_t n,
                            float beta, float lr) {
    (void)dev;
    float *pd = cpu_f32(d);
    const float *pg = cpu_f32(g);
    /* Two products, one sum, each rounded (no contraction in this file). */
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) pd[i] = beta * pd[i] + lr * pg[i];
    return DT_OK;
}

static int team_size(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Per-thread working space for a whole op: `per_thread` floats each, one
 * allocation per call (never per tile). */
static float *team_scratch(int64_t per_thread, const char *op, const dt_device *dev) {
    size_t bytes = (size_t)per_thread * (size_t)team_size() * sizeof(float);
    float *s = malloc(bytes);
    if (!s)
        dt_error(DT_ERR_OOM, "%s: cannot allocate %zu bytes of scratch on %s", op, bytes,
                 dev->info.spec);
    return s;
}

/* Element (0, 0) of tile t inside the rows x cols matrix. */
static inline int64_t tile_origin(const dt_tile_plan *p, int64_t t) {
    return (t / p->tiles_per_row) * p->tile_rows * p->cols + (t % p->tiles_per_row) * p->tile_cols;
}

/* X = F1^T x F2 in two passes over rows, both vectorised along n2:
 *   Y[a][:] = sum_s F1[s][a] x[s][:]      X[a][:] = sum_m Y[a][m] F2[m][:] */
static void encode_tile(const dt_tile_plan *p, const float *x, const float *f1, const float *f2,
                        float *y, float *out) {
    const int64_t n1 = p->tile_rows, n2 = p->tile_cols;
    for (int64_t a = 0; a < n1; a++) {
        float *ya = y + a * n2;
        for (int64_t m = 0; m < n2; m++) ya[m] = 0.0f;
        for (int64_t s = 0; s < n1; s++) {
            const float f = f1[s * n1 + a];
            const float *xs = x + s * p->cols;
            for (int64_t m = 0; m < n2; m++) ya[m] += f * xs[m];
        }
    }
    for (int64_t a = 0; a < n1; a++) {
        const float *ya = y + a * n2;
        float *xa = out + a * n2;
        for (int64_t b = 0; b < n2; b++) xa[b] = 0.0f;
        for (int64_t m = 0; m < n2; m++) {
            const float v = ya[m];
            const float *f2m = f2 + m * n2;
            for (int64_t b = 0; b < n2; b++) xa[b] += v * f2m[b];
        }
    }
}

dt_status cpu_demo_encode(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *x,
                          const dt_tensor *f1, const dt_tensor *f2, const dt_tensor *coeffs) {
    const int64_t S = plan->tile_size;
    float *scratch = team_scratch(S, "demo_encode", dev);
    if (!scratch) return DT_ERR_OOM;
    const float *px = cpu_f32(x), *pf1 = cpu_f32(f1), *pf2 = cpu_f32(f2);
    float *pc = cpu_f32(coeffs);
#pragma omp parallel for schedule(static) if (plan->n_tiles > 1)
    for (int64_t t = 0; t < plan->n_tiles; t++)
        encode_tile(plan, px + tile_origin(plan, t), pf1, pf2, scratch + thread_id() * S,
                    pc + t * S);
    free(scratch);
    return DT_OK;
}

/* The k largest |c| of one tile, ties to the lower index, written in index
 * order. Radix select on the bits of |c| (for non-negative floats the bit
 * pattern orders like the value; NaN sorts above inf): four byte-wise
 * histogram passes find the k-th largest key T and how many entries equal to
 * T are still needed; a last pass in index order then takes every key above
 * T and the first `ties` keys equal to T. O(S), no sorting, no scratch. */
static void topk_tile(const float *c, int64_t S, int64_t k, int32_t *idx, float *vals) {
    uint32_t prefix = 0, mask = 0;
    int64_t need = k; /* how many of the keys matching `prefix` are still to be taken */
    for (int shift = 24; shift >= 0; shift -= 8) {
        int64_t hist[256] = {0};
        for (int64_t i = 0; i < S; i++) {
            uint32_t key;
            memcpy(&key, c + i, sizeof key);
            key &= 0x7fffffffu;
            if ((key & mask) == prefix) hist[(key >> shift) & 0xffu]++;
        }
        int bin = 255;
        while (hist[bin] < need) need -= hist[bin--];
        prefix |= (uint32_t)bin << shift;
        mask |= 0xffu << shift;
    }
    int64_t out = 0, ties = need;
    for (int64_t i = 0; i < S && out < k; i++) {
        uint32_t key;
        memcpy(&key, c + i, sizeof key);
        key &= 0x7fffffffu;
        if (key > prefix || (key == prefix && ties > 0)) {
            if (key == prefix) ties--;
            idx[out] = (int32_t)i;
            vals[out] = c[i];
            out++;
        }
    }
}

dt_status cpu_demo_topk(dt_device *dev, const dt_tensor *coeffs, int64_t n_tiles, int64_t tile_size,
                        int64_t k, const dt_tensor *idx, const dt_tensor *vals) {
    (void)dev;
    const float *pc = cpu_f32(coeffs);
    int32_t *pi = cpu_i32(idx);
    float *pv = cpu_f32(vals);
#pragma omp parallel for schedule(static) if (n_tiles * tile_size >= PARALLEL_MIN)
    for (int64_t t = 0; t < n_tiles; t++)
        topk_tile(pc + t * tile_size, tile_size, k, pi + t * k, pv + t * k);
    return DT_OK;
}

/* D_tile -= F1 A F2^T for the sparse A of one tile, in two steps that touch
 * only what is non-zero:
 *   Y[a][:] = sum_b A[a][b] F2[:][b]   (one row of F2^T per entry)
 *   D[h][:] -= sum_{a in used rows} F1[h][a] Y[a][:]
 * Scratch: Y (S floats), then a row of n2 floats, then n1 row flags. */
static void decode_sub_tile(const dt_tile_plan *p, const int32_t *idx, const float *vals, int64_t k,
                            const float *f1, const float *f2, float *d, float *scratch) {
    const int64_t n1 = p->tile_rows, n2 = p->tile_cols, S = p->tile_size;
    float *y = scratch, *row = y + S;
    unsigned char *used = (unsigned char *)(row + n2);
    memset(used, 0, (size_t)n1);
    for (int64_t e = 0; e < k; e++) {
        const int32_t i = idx[e];
        if (i < 0 || i >= S) continue;
        const int64_t a = i / n2, b = i % n2;
        float *ya = y + a * n2;
        if (!used[a]) {
            used[a] = 1;
            for (int64_t w = 0; w < n2; w++) ya[w] = 0.0f;
        }
        const float v = vals[e];
        for (int64_t w = 0; w < n2; w++) ya[w] += v * f2[w * n2 + b];
    }
    for (int64_t h = 0; h < n1; h++) {
        for (int64_t w = 0; w < n2; w++) row[w] = 0.0f;
        for (int64_t a = 0; a < n1; a++) {
            if (!used[a]) continue;
            const float f = f1[h * n1 + a];
            const float *ya = y + a * n2;
            for (int64_t w = 0; w < n2; w++) row[w] += f * ya[w];
        }
        float *dh = d + h * p->cols;
        for (int64_t w = 0; w < n2; w++) dh[w] -= row[w];
    }
}

dt_status cpu_demo_decode_sub(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                              const dt_tensor *vals, int64_t k, const dt_tensor *f1,
                              const dt_tensor *f2, const dt_tensor *d) {
    /* Y, one row, and n1 flag bytes (rounded up to whole floats). */
    const int64_t per = plan->tile_size + plan->tile_cols + (plan->tile_rows + 3) / 4;
    float *scratch = team_scratch(per, "demo_decode_sub", dev);
    if (!scratch) return DT_ERR_OOM;
    const int32_t *pi = cpu_i32(idx);
    const float *pv = cpu_f32(vals), *pf1 = cpu_f32(f1), *pf2 = cpu_f32(f2);
    float *pd = cpu_f32(d);
#pragma omp parallel for schedule(static) if (plan->n_tiles > 1)
    for (int64_t t = 0; t < plan->n_tiles; t++)
        decode_sub_tile(plan, pi + t * k, pv + t * k, k, pf1, pf2, pd + tile_origin(plan, t),
                        scratch + thread_id() * per);
    free(scratch);
    return DT_OK;
}

/* The canonical update must be the same bits everywhere: run the reference. */
dt_status cpu_demo_apply(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                         const dt_tensor *vals, int64_t k, int64_t n_contrib,
                         const dt_tensor *recip, const dt_tensor *f1, const dt_tensor *f2,
                         const dt_tensor *w, float lr, float decay) {
    dt_status st =
        dt_demo_apply_host(plan, cpu_i32(idx), cpu_f32(vals), k, n_contrib, cpu_f32(recip),
                           cpu_f32(f1), cpu_f32(f2), cpu_f32(w), lr, decay);
    if (st != DT_OK) return dt_error_wrap(st, "demo_apply on %s: ", dev->info.spec);
    return DT_OK;
}
