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

dt_status cpu_demo_momentum(dt_device *dev, const dt_tensor *d, const dt_tensor *g, int64_t n,
                            float beta, float lr) {
    (void)dev;
    float *pd = cpu_f32(d);
    const float *pg = cpu_f32(g);
#pragma omp parallel for schedule(static) if (n >= CPU_PARALLEL_MIN)
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

/* Working space for a whole op: `shared` floats, then `per_thread` floats for
 * each thread; one allocation per call, never per tile. */
static float *team_scratch(int64_t per_thread, int64_t shared, const char *op,
                           const dt_device *dev) {
    size_t bytes = ((size_t)per_thread * (size_t)team_size() + (size_t)shared) * sizeof(float);
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

/* The vector type below is 64 bytes on every target. Without AVX-512 GCC
 * notes that passing one by value has no settled ABI; that cannot matter for
 * static functions, which never cross a library boundary. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#define DEMO_VW 16

/* DEMO_VW floats; GCC/Clang lower it to whatever vector registers exist. */
typedef float demo_vec __attribute__((vector_size(DEMO_VW * sizeof(float))));

static inline demo_vec load_vec(const float *p) {
    demo_vec v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store_vec(float *p, demo_vec v) {
    memcpy(p, &v, sizeof v);
}

/* The small dense product inside a tile transform, for r < rows:
 *   dst[r][0..width) (=, or -= when `subtract`)
 *       sum_{j < inner} coef[r * crs + j * cjs] * src[j][0..width)
 * (src rows lds apart, dst rows ldd apart). Four rows at a time keep their
 * sums in registers and share each load of a src row; a short last group
 * repeats its final row rather than branch in the inner loop. */
static void tile_matmul(int64_t rows, int64_t inner, int64_t width, const float *coef, int64_t crs,
                        int64_t cjs, const float *src, int64_t lds, float *dst, int64_t ldd,
                        int subtract) {
    for (int64_t r0 = 0; r0 < rows; r0 += 4) {
        const int64_t nr = rows - r0 < 4 ? rows - r0 : 4;
        const float *cr[4];
        for (int r = 0; r < 4; r++) cr[r] = coef + (r0 + (r < nr ? r : nr - 1)) * crs;
        int64_t w = 0;
        for (; w + DEMO_VW <= width; w += DEMO_VW) {
            demo_vec acc[4] = {{0}, {0}, {0}, {0}};
            for (int64_t j = 0; j < inner; j++) {
                const demo_vec x = load_vec(src + j * lds + w);
                for (int r = 0; r < 4; r++) acc[r] += cr[r][j * cjs] * x;
            }
            for (int r = 0; r < nr; r++) {
                float *o = dst + (r0 + r) * ldd + w;
                store_vec(o, subtract ? load_vec(o) - acc[r] : acc[r]);
            }
        }
        for (; w < width; w++)
            for (int r = 0; r < nr; r++) {
                float acc = 0.0f;
                for (int64_t j = 0; j < inner; j++) acc += cr[r][j * cjs] * src[j * lds + w];
                float *o = dst + (r0 + r) * ldd + w;
                *o = subtract ? *o - acc : acc;
            }
    }
}

/* X = F1^T x F2 as two products along rows:
 *   Y[a][:] = sum_s F1[s][a] x[s][:]      X[a][:] = sum_m Y[a][m] F2[m][:] */
static void encode_tile(const dt_tile_plan *p, const float *x, const float *f1, const float *f2,
                        float *y, float *out) {
    const int64_t n1 = p->tile_rows, n2 = p->tile_cols;
    tile_matmul(n1, n1, n2, f1, 1, n1, x, p->cols, y, n2, 0);
    tile_matmul(n1, n2, n2, y, n2, 1, f2, n2, out, n2, 0);
}

dt_status cpu_demo_encode(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *x,
                          const dt_tensor *f1, const dt_tensor *f2, const dt_tensor *coeffs) {
    const int64_t S = plan->tile_size;
    float *scratch = team_scratch(S, 0, "demo_encode", dev);
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

/* |c| as an integer key: for non-negative floats the bit pattern orders like
 * the value (NaN sorts above inf, deterministically). */
static inline uint32_t abs_key(const float *c) {
    uint32_t key;
    memcpy(&key, c, sizeof key);
    return key & 0x7fffffffu;
}

/* Picks the digit value holding the need-th largest key from a histogram and
 * lowers `need` by the keys in the digits above it. */
static uint32_t select_digit(const int64_t *hist, int64_t top, int64_t *need) {
    int64_t bin = top;
    while (hist[bin] < *need) *need -= hist[bin--];
    return (uint32_t)bin;
}

/* The k largest |c| of one tile, ties to the lower index, written in index
 * order. Radix select on the 31-bit keys, one digit at a time from the top
 * (bits 30..23, the exponent, then 22..15, 14..7, 6..0): a histogram names
 * the digit of the k-th largest key T, and only keys with that digit stay
 * candidates for the next one (`cand`, S entries of scratch). That leaves T
 * and `need`, the number of keys equal to T to take; a last pass in index
 * order takes every key above T and the first `need` keys equal to T.
 * O(S) and no sorting. */
static void topk_tile(const float *c, int64_t S, int64_t k, uint32_t *cand, int32_t *idx,
                      float *vals) {
    int64_t need = k;
    /* Top digit over the whole tile. Most keys share a few exponents, so four
     * interleaved histograms break the chains of increments to one bin. */
    int64_t h4[4][256], hist[256];
    memset(h4, 0, sizeof h4);
    int64_t i = 0;
    for (; i + 4 <= S; i += 4)
        for (int q = 0; q < 4; q++) h4[q][abs_key(c + i + q) >> 23]++;
    for (; i < S; i++) h4[0][abs_key(c + i) >> 23]++;
    for (int b = 0; b < 256; b++) hist[b] = h4[0][b] + h4[1][b] + h4[2][b] + h4[3][b];
    uint32_t digit = select_digit(hist, 255, &need);
    uint32_t prefix = digit << 23;
    int64_t nc = 0;
    for (i = 0; i < S; i++) {
        const uint32_t key = abs_key(c + i);
        cand[nc] = key;
        nc += (key >> 23) == digit;
    }
    static const int shift[3] = {15, 7, 0};
    static const uint32_t width[3] = {0xff, 0xff, 0x7f};
    for (int d = 0; d < 3; d++) {
        memset(hist, 0, sizeof hist);
        for (int64_t j = 0; j < nc; j++) hist[(cand[j] >> shift[d]) & width[d]]++;
        digit = select_digit(hist, (int64_t)width[d], &need);
        prefix |= digit << shift[d];
        int64_t kept = 0;
        for (int64_t j = 0; j < nc; j++) {
            cand[kept] = cand[j];
            kept += ((cand[j] >> shift[d]) & width[d]) == digit;
        }
        nc = kept;
    }
    int64_t out = 0;
    for (i = 0; i < S && out < k; i++) {
        const uint32_t key = abs_key(c + i);
        if (key > prefix || (key == prefix && need > 0)) {
            need -= key == prefix;
            idx[out] = (int32_t)i;
            vals[out] = c[i];
            out++;
        }
    }
}

dt_status cpu_demo_topk(dt_device *dev, const dt_tensor *coeffs, int64_t n_tiles, int64_t tile_size,
                        int64_t k, const dt_tensor *idx, const dt_tensor *vals) {
    uint32_t *scratch = (uint32_t *)team_scratch(tile_size, 0, "demo_topk", dev);
    if (!scratch) return DT_ERR_OOM;
    const float *pc = cpu_f32(coeffs);
    int32_t *pi = cpu_i32(idx);
    float *pv = cpu_f32(vals);
#pragma omp parallel for schedule(static) if (n_tiles * tile_size >= CPU_PARALLEL_MIN)
    for (int64_t t = 0; t < n_tiles; t++)
        topk_tile(pc + t * tile_size, tile_size, k, scratch + thread_id() * tile_size, pi + t * k,
                  pv + t * k);
    free(scratch);
    return DT_OK;
}

/* Scratch of decode_sub_tile, in floats: compact Y (S), F1 restricted to the
 * used rows (n1 x n1), and two int32 arrays of n1. */
static int64_t decode_scratch_floats(const dt_tile_plan *p) {
    return p->tile_size + p->tile_rows * p->tile_rows + 2 * p->tile_rows;
}

/* D_tile -= F1 A F2^T for the sparse A of one tile, touching only the rows of
 * A that hold an entry ("used" rows, kept compact in order of first use):
 *   Y[j][:] = sum over entries (a_j, b) of A[a_j][b] F2^T[b][:]
 *   D -= F1[:, used] Y
 * f2t is F2 transposed, so both steps run along contiguous rows. */
static void decode_sub_tile(const dt_tile_plan *p, const int32_t *idx, const float *vals, int64_t k,
                            const float *f1, const float *f2t, float *d, float *scratch) {
    const int64_t n1 = p->tile_rows, n2 = p->tile_cols, S = p->tile_size;
    float *y = scratch, *f1u = y + S;
    int32_t *slot = (int32_t *)(f1u + n1 * n1), *row_of = slot + n1;
    for (int64_t a = 0; a < n1; a++) slot[a] = -1;
    int64_t used = 0;
    for (int64_t e = 0; e < k; e++) {
        const int32_t i = idx[e];
        if (i < 0 || i >= S) continue;
        const int64_t a = i / n2, b = i % n2;
        if (slot[a] < 0) {
            slot[a] = (int32_t)used;
            row_of[used] = (int32_t)a;
            memset(y + used * n2, 0, (size_t)n2 * sizeof(float));
            used++;
        }
        float *ya = y + slot[a] * n2;
        const float v = vals[e], *fb = f2t + b * n2;
        for (int64_t w = 0; w < n2; w++) ya[w] += v * fb[w];
    }
    if (!used) return;
    for (int64_t h = 0; h < n1; h++)
        for (int64_t j = 0; j < used; j++) f1u[h * used + j] = f1[h * n1 + row_of[j]];
    tile_matmul(n1, used, n2, f1u, used, 1, y, n2, d, p->cols, 1);
}

dt_status cpu_demo_decode_sub(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                              const dt_tensor *vals, int64_t k, const dt_tensor *f1,
                              const dt_tensor *f2, const dt_tensor *d) {
    /* One shared F2^T, then each thread's scratch. */
    const int64_t n2 = plan->tile_cols, shared = n2 * n2, per = decode_scratch_floats(plan);
    float *scratch = team_scratch(per, shared, "demo_decode_sub", dev);
    if (!scratch) return DT_ERR_OOM;
    const float *pf2 = cpu_f32(f2);
    for (int64_t m = 0; m < n2; m++)
        for (int64_t b = 0; b < n2; b++) scratch[b * n2 + m] = pf2[m * n2 + b];
    const int32_t *pi = cpu_i32(idx);
    const float *pv = cpu_f32(vals), *pf1 = cpu_f32(f1);
    float *pd = cpu_f32(d);
#pragma omp parallel for schedule(static) if (plan->n_tiles > 1)
    for (int64_t t = 0; t < plan->n_tiles; t++)
        decode_sub_tile(plan, pi + t * k, pv + t * k, k, pf1, scratch, pd + tile_origin(plan, t),
                        scratch + shared + thread_id() * per);
    free(scratch);
    return DT_OK;
}

/* The canonical update must be the same bits everywhere: run the reference. */
dt_status cpu_demo_apply(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                         const dt_tensor *vals, int64_t k, int64_t n_contrib,
                         const dt_tensor *recip, const dt_tensor *f1, const dt_tensor *f2,
                         const dt_tensor *w, float lr, float decay, dt_demo_update update) {
    dt_status st =
        dt_demo_apply_host(plan, cpu_i32(idx), cpu_f32(vals), k, n_contrib, cpu_f32(recip),
                           cpu_f32(f1), cpu_f32(f2), cpu_f32(w), lr, decay, update);
    if (st != DT_OK) return dt_error_wrap(st, "demo_apply on %s: ", dev->info.spec);
    return DT_OK;
}
