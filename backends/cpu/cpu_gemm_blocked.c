/* The own CPU GEMM: the fallback when no CBLAS is present, and a second
 * opinion when one is (cpu:gemm=own). One call computes one GEMM (or
 * one piece of C) on the calling thread; cpu_gemm.c hands each thread of the
 * OpenMP team its own piece.
 *
 * Goto/BLIS-style blocking, written with vectors along n (row-major C):
 *   for jc in n by GEMM_NC:         B block (kc x nc) lives in L2
 *     for pc in k by GEMM_KC:       pack the B block
 *       for ir in m by MR:          pack one A sliver (MR x kc): lives in L1
 *         for jr in nc by NR:       micro-kernel: C[MR x NR] += A sliver * B sliver
 * The micro-kernel keeps its MR x NR accumulators in registers; A values are
 * broadcast, B rows are loaded as GEMM_NV vectors. Packing pads with zeros, so
 * the kernel always runs full tiles; only the store to C knows the edges.
 *
 * Every C element is summed over k in the same order (kc blocks ascending,
 * ascending p inside) wherever its tile sits, so however C is cut into pieces
 * the bits are the same. The file is compiled with -O3 -ffp-contract=fast:
 * the kernel's `acc += a * b` must become fused multiply-adds. */
#include <stdlib.h>
#include <string.h>

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "backends/cpu/cpu_backend.h"

/* Register blocking per vector ISA. AVX-512 has 32 vector registers: 12 x 2
 * accumulators + 2 B vectors + 1 broadcast. AVX/AVX2 and 128-bit ISAs have 16:
 * 6 x 2 accumulators + 2 + 1. */
#if defined(__AVX512F__)
#define GEMM_VW 16
#define GEMM_MR 12
#elif defined(__AVX__)
#define GEMM_VW 8
#define GEMM_MR 6
#else
#define GEMM_VW 4
#define GEMM_MR 6
#endif
#define GEMM_NV 2
#define GEMM_NR (GEMM_VW * GEMM_NV)

/* Cache blocking: an A sliver of MR x KC floats (18 KiB with AVX-512) stays in
 * L1 while the B block of KC x NC floats (768 KiB) streams from L2. Chosen by
 * measurement on a Zen 4 core (32 KiB L1d, 1 MiB L2): within a few percent
 * of the best of KC 128..384 and NC 256..1024. */
#define GEMM_KC 384
#define GEMM_NC 512

/* A GCC/Clang vector: the compiler lowers arithmetic on it to the widest
 * registers the target has, and to scalar code where it has none. */
typedef float gemm_vec __attribute__((vector_size(GEMM_VW * sizeof(float))));

typedef struct gemm_operands {
    int trans_a, trans_b;
    int64_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int64_t lda, ldb, ldc;
} gemm_operands;

static inline float elem_a(const gemm_operands *g, int64_t i, int64_t p) {
    return g->trans_a ? g->a[p * g->lda + i] : g->a[i * g->lda + p];
}

/* dst[p * width + r] = src[r * ld + p] for r < rows and p < kc, and 0 for
 * rows <= r < width: the transposing half of packing (A stored m x k, B
 * stored n x k). */
#if defined(__AVX512F__)
/* Sixteen rows of sixteen into sixteen columns, in registers: 64 shuffles
 * where the scalar pack below makes 256 strided stores. That scalar pack
 * cost 15-20% of a forward GEMM (x W^T) at 256 rows on a Zen 4 core. */
static inline void transpose_16x16(__m512 x[16]) {
    __m512 t[16];
    /* Within each 128-bit lane: pairs of rows, then quadruples. */
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(x[i], x[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(x[i], x[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        x[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        x[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
        x[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        x[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    /* Now x[4g + e], lane L, holds element 4L + e of rows 4g..4g+3: gather
     * the four row groups' lanes. */
    for (int e = 0; e < 4; e++) {
        const __m512 even01 = _mm512_shuffle_f32x4(x[e], x[4 + e], 0x88);
        const __m512 even23 = _mm512_shuffle_f32x4(x[8 + e], x[12 + e], 0x88);
        const __m512 odd01 = _mm512_shuffle_f32x4(x[e], x[4 + e], 0xdd);
        const __m512 odd23 = _mm512_shuffle_f32x4(x[8 + e], x[12 + e], 0xdd);
        t[e] = _mm512_shuffle_f32x4(even01, even23, 0x88);     /* element e */
        t[8 + e] = _mm512_shuffle_f32x4(even01, even23, 0xdd); /* e + 8 */
        t[4 + e] = _mm512_shuffle_f32x4(odd01, odd23, 0x88);   /* e + 4 */
        t[12 + e] = _mm512_shuffle_f32x4(odd01, odd23, 0xdd);  /* e + 12 */
    }
    for (int i = 0; i < 16; i++) x[i] = t[i];
}

static void pack_transposed(const float *src, int64_t ld, int64_t rows, int64_t kc, int width,
                            float *restrict dst) {
    for (int r0 = 0; r0 < width; r0 += 16) {
        const int nr = width - r0 < 16 ? width - r0 : 16;
        const __mmask16 store_mask = (__mmask16)((1u << nr) - 1);
        for (int64_t p0 = 0; p0 < kc; p0 += 16) {
            const int np = kc - p0 < 16 ? (int)(kc - p0) : 16;
            /* Masked loads read nothing past row ends (no fault, no over-read). */
            const __mmask16 load_mask = (__mmask16)((1u << np) - 1);
            __m512 x[16];
            for (int i = 0; i < 16; i++)
                x[i] = r0 + i < rows ? _mm512_maskz_loadu_ps(load_mask, src + (r0 + i) * ld + p0)
                                     : _mm512_setzero_ps();
            transpose_16x16(x);
            for (int q = 0; q < np; q++)
                _mm512_mask_storeu_ps(dst + (p0 + q) * width + r0, store_mask, x[q]);
        }
    }
}
#elif defined(__AVX__)
/* The same with 8 x 8 blocks for AVX/AVX2 machines (most consumer CPUs):
 * three rounds of shuffles. Stores are plain: AMD cores microcode
 * vmaskmovps stores, which made this pack slower than the scalar one. */
static inline void transpose_8x8(__m256 x[8]) {
    __m256 t[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(x[i], x[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(x[i], x[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        x[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        x[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        x[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        x[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    /* x[4g + e], half h, holds element 4h + e of rows 4g..4g+3. */
    for (int e = 0; e < 4; e++) {
        t[e] = _mm256_permute2f128_ps(x[e], x[4 + e], 0x20);     /* element e */
        t[4 + e] = _mm256_permute2f128_ps(x[e], x[4 + e], 0x31); /* e + 4 */
    }
    for (int i = 0; i < 8; i++) x[i] = t[i];
}

/* The first n of 8 lanes set, for maskload. */
static inline __m256i lanes_8(int n) {
    static const int32_t ones_then_zeros[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                0,  0,  0,  0,  0,  0,  0,  0};
    return _mm256_loadu_si256((const __m256i *)(ones_then_zeros + 8 - n));
}

static void pack_transposed(const float *src, int64_t ld, int64_t rows, int64_t kc, int width,
                            float *restrict dst) {
    for (int r0 = 0; r0 < width; r0 += 8) {
        const int nr = width - r0 < 8 ? width - r0 : 8;
        for (int64_t p0 = 0; p0 < kc; p0 += 8) {
            const int np = kc - p0 < 8 ? (int)(kc - p0) : 8;
            const __m256i load_mask = lanes_8(np);
            __m256 x[8];
            for (int i = 0; i < 8; i++)
                x[i] = r0 + i >= rows ? _mm256_setzero_ps()
                       : np == 8      ? _mm256_loadu_ps(src + (r0 + i) * ld + p0)
                                      : _mm256_maskload_ps(src + (r0 + i) * ld + p0, load_mask);
            transpose_8x8(x);
            if (nr == 8) {
                for (int q = 0; q < np; q++) _mm256_storeu_ps(dst + (p0 + q) * width + r0, x[q]);
            } else {
                for (int q = 0; q < np; q++) {
                    float t[8];
                    _mm256_storeu_ps(t, x[q]);
                    for (int j = 0; j < nr; j++) dst[(p0 + q) * width + r0 + j] = t[j];
                }
            }
        }
    }
}
#else
static void pack_transposed(const float *src, int64_t ld, int64_t rows, int64_t kc, int width,
                            float *restrict dst) {
    for (int64_t r = 0; r < width; r++) {
        if (r >= rows) {
            for (int64_t p = 0; p < kc; p++) dst[p * width + r] = 0.0f;
            continue;
        }
        for (int64_t p = 0; p < kc; p++) dst[p * width + r] = src[r * ld + p];
    }
}
#endif

/* A rows [i0, i0+MR) x k range [p0, p0+kc) into dst[p][MR], zero rows past m. */
static void pack_a_sliver(const gemm_operands *g, int64_t i0, int64_t p0, int64_t kc,
                          float *restrict dst) {
    const int64_t rows = g->m - i0 < GEMM_MR ? g->m - i0 : GEMM_MR;
    if (!g->trans_a) {
        pack_transposed(g->a + i0 * g->lda + p0, g->lda, rows, kc, GEMM_MR, dst);
        return;
    }
    /* Stored k x m: each p gives `rows` contiguous values. A whole sliver
     * copies a constant MR floats, inline: as a loop over `rows` GCC made it
     * a memcpy call per p, 2.5% of the GPT-2 shape's step. */
    for (int64_t p = 0; p < kc; p++) {
        const float *src = g->a + (p0 + p) * g->lda + i0;
        float *d = dst + p * GEMM_MR;
        if (rows == GEMM_MR) {
            memcpy(d, src, GEMM_MR * sizeof(float));
            continue;
        }
        int64_t i = 0;
        for (; i < rows; i++) d[i] = src[i];
        for (; i < GEMM_MR; i++) d[i] = 0.0f;
    }
}

/* B k range [p0, p0+kc) x columns [j0, j0+NR) into dst[p][NR], zero past n. */
static void pack_b_sliver(const gemm_operands *g, int64_t p0, int64_t kc, int64_t j0,
                          float *restrict dst) {
    const int64_t cols = g->n - j0 < GEMM_NR ? g->n - j0 : GEMM_NR;
    if (g->trans_b) {
        /* Stored n x k: column j of op(B) is row j of B, contiguous in p. */
        pack_transposed(g->b + j0 * g->ldb + p0, g->ldb, cols, kc, GEMM_NR, dst);
        return;
    }
    for (int64_t p = 0; p < kc; p++) {
        const float *src = g->b + (p0 + p) * g->ldb + j0;
        float *d = dst + p * GEMM_NR;
        if (cols == GEMM_NR) {
            /* Whole vectors, inline: a memcpy call per 128 bytes cost
             * 2-3% of a GEMM. */
            for (int v = 0; v < GEMM_NV; v++) {
                gemm_vec x;
                memcpy(&x, src + v * GEMM_VW, sizeof x);
                *(gemm_vec *)(d + v * GEMM_VW) = x;
            }
        } else {
            int64_t j = 0;
            for (; j < cols; j++) d[j] = src[j];
            for (; j < GEMM_NR; j++) d[j] = 0.0f;
        }
    }
}

/* acc[0..ROWS) = sum over p < kc of ap[p][0..ROWS) (outer) bp[p][0..NR), for
 * a compile-time ROWS <= MR (ap keeps its stride of MR). Both panels are
 * 64-byte aligned and NR floats are a whole number of vectors. */
static inline __attribute__((always_inline)) void
micro_kernel_rows(int64_t kc, const float *restrict ap, const float *restrict bp,
                  gemm_vec acc[GEMM_MR][GEMM_NV], const int rows) {
    gemm_vec c[GEMM_MR][GEMM_NV];
    for (int i = 0; i < rows; i++)
        for (int v = 0; v < GEMM_NV; v++) c[i][v] = (gemm_vec){0};
#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; p++) {
        gemm_vec b[GEMM_NV];
        for (int v = 0; v < GEMM_NV; v++) b[v] = *(const gemm_vec *)(bp + v * GEMM_VW);
#pragma GCC unroll 16
        for (int i = 0; i < rows; i++) {
            const float a = ap[i];
            for (int v = 0; v < GEMM_NV; v++) c[i][v] += b[v] * a;
        }
        ap += GEMM_MR;
        bp += GEMM_NR;
    }
    for (int i = 0; i < rows; i++)
        for (int v = 0; v < GEMM_NV; v++) acc[i][v] = c[i][v];
}

/* The micro-kernel for a sliver with `rows` real rows: a sliver at m's edge
 * runs a third or two thirds of the kernel instead of multiplying its zero
 * padding (256 rows, the GPT-2 shape's batch, are 21 slivers of 12 and one
 * of 4: 3% of the work was padding). Each element's sum is the same chain
 * in every variant, so the bits are too. */
static void micro_kernel(int64_t kc, const float *restrict ap, const float *restrict bp,
                         gemm_vec acc[GEMM_MR][GEMM_NV], int64_t rows) {
    if (rows <= GEMM_MR / 3)
        micro_kernel_rows(kc, ap, bp, acc, GEMM_MR / 3);
    else if (rows <= 2 * GEMM_MR / 3)
        micro_kernel_rows(kc, ap, bp, acc, 2 * GEMM_MR / 3);
    else
        micro_kernel_rows(kc, ap, bp, acc, GEMM_MR);
}

/* Prefetches. The packs and the stores to C wait on memory: A and C are
 * megabytes that live in no cache (the B block does, in L2). Perf on a Zen 4
 * core put about 6% of a GEMM in those waits; fetching the next A sliver's
 * rows and the next C tile while a micro-kernel runs (thousands of cycles)
 * hides most of it (3-5% faster at the small preset's shapes, measured on
 * one and two threads). */

/* The C tile that store_tile writes next. */
static inline void prefetch_c_tile(const gemm_operands *g, int64_t i0, int64_t j0) {
    const int64_t rows = g->m - i0 < GEMM_MR ? g->m - i0 : GEMM_MR;
    const int64_t cols = g->n - j0 < GEMM_NR ? g->n - j0 : GEMM_NR;
    for (int64_t i = 0; i < rows; i++) {
        const float *row = g->c + (i0 + i) * g->ldc + j0;
        for (int64_t j = 0; j < cols; j += 64 / (int64_t)sizeof(float))
            __builtin_prefetch(row + j, 1, 3);
    }
}

/* Part s of n_parts of the source rows of the A sliver at row i0 (the next
 * one), spread over the current sliver's n_parts micro-kernels. */
static inline void prefetch_a_part(const gemm_operands *g, int64_t i0, int64_t p0, int64_t kc,
                                   int64_t s, int64_t n_parts) {
    if (i0 >= g->m) return;
    const int64_t rows = g->m - i0 < GEMM_MR ? g->m - i0 : GEMM_MR;
    if (g->trans_a) {
        for (int64_t p = s; p < kc; p += n_parts)
            __builtin_prefetch(g->a + (p0 + p) * g->lda + i0, 0, 3);
        return;
    }
    const int64_t per_line = 64 / (int64_t)sizeof(float);
    const int64_t lines = (kc + per_line - 1) / per_line;
    for (int64_t x = s; x < rows * lines; x += n_parts) {
        const int64_t i = x / lines, l = x % lines;
        __builtin_prefetch(g->a + (i0 + i) * g->lda + p0 + l * per_line, 0, 3);
    }
}

/* C tile at (i0, j0) from the accumulators. The first k block applies beta
 * (and never reads C when beta == 0); later blocks add. */
static void store_tile(const gemm_operands *g, int64_t i0, int64_t j0, int first,
                       gemm_vec acc[GEMM_MR][GEMM_NV]) {
    const int64_t rows = g->m - i0 < GEMM_MR ? g->m - i0 : GEMM_MR;
    const int64_t cols = g->n - j0 < GEMM_NR ? g->n - j0 : GEMM_NR;
    const float alpha = g->alpha, beta = first ? g->beta : 1.0f;
    for (int64_t i = 0; i < rows; i++) {
        float *crow = g->c + (i0 + i) * g->ldc + j0;
        const float *t = (const float *)acc[i];
        if (beta == 0.0f) {
            for (int64_t j = 0; j < cols; j++) crow[j] = alpha * t[j];
        } else if (beta == 1.0f) {
            for (int64_t j = 0; j < cols; j++) crow[j] += alpha * t[j];
        } else {
            for (int64_t j = 0; j < cols; j++) crow[j] = alpha * t[j] + beta * crow[j];
        }
    }
}

/* Without a workspace (allocation failed): the plain triple loop, correct and
 * slow, with the same beta rule. */
static void gemm_unblocked(const gemm_operands *g) {
    for (int64_t i = 0; i < g->m; i++) {
        float *crow = g->c + i * g->ldc;
        for (int64_t j = 0; j < g->n; j++) {
            float sum = 0.0f;
            for (int64_t p = 0; p < g->k; p++) {
                float bv = g->trans_b ? g->b[j * g->ldb + p] : g->b[p * g->ldb + j];
                sum += elem_a(g, i, p) * bv;
            }
            crow[j] = g->beta == 0.0f ? g->alpha * sum : g->alpha * sum + g->beta * crow[j];
        }
    }
}

void cpu_gemm_blocked(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                      float *c, int64_t ldc) {
    const gemm_operands g = {trans_a, trans_b, m, n, k, alpha, beta, a, b, c, lda, ldb, ldc};
    const int64_t kc_max = k < GEMM_KC ? k : GEMM_KC;
    /* A block's columns, rounded up to whole slivers (padding included). */
    const int64_t nc_max = ((n < GEMM_NC ? n : GEMM_NC) + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
    size_t bytes = (size_t)(kc_max * nc_max) * sizeof(float);
    bytes = (bytes + 63) / 64 * 64;
    float *bpack = aligned_alloc(64, bytes);
    if (!bpack) {
        gemm_unblocked(&g);
        return;
    }
    _Alignas(64) float apack[GEMM_MR * GEMM_KC];
    gemm_vec acc[GEMM_MR][GEMM_NV];
    const int64_t m_slivers = (m + GEMM_MR - 1) / GEMM_MR;
    for (int64_t jc = 0; jc < n; jc += GEMM_NC) {
        const int64_t nc = n - jc < GEMM_NC ? n - jc : GEMM_NC;
        const int64_t n_slivers = (nc + GEMM_NR - 1) / GEMM_NR;
        for (int64_t pc = 0; pc < k; pc += GEMM_KC) {
            const int64_t kc = k - pc < GEMM_KC ? k - pc : GEMM_KC;
            for (int64_t s = 0; s < n_slivers; s++)
                pack_b_sliver(&g, pc, kc, jc + s * GEMM_NR, bpack + s * kc * GEMM_NR);
            for (int64_t r = 0; r < m_slivers; r++) {
                const int64_t rows = m - r * GEMM_MR < GEMM_MR ? m - r * GEMM_MR : GEMM_MR;
                pack_a_sliver(&g, r * GEMM_MR, pc, kc, apack);
                for (int64_t s = 0; s < n_slivers; s++) {
                    prefetch_c_tile(&g, r * GEMM_MR, jc + s * GEMM_NR);
                    prefetch_a_part(&g, (r + 1) * GEMM_MR, pc, kc, s, n_slivers);
                    micro_kernel(kc, apack, bpack + s * kc * GEMM_NR, acc, rows);
                    store_tile(&g, r * GEMM_MR, jc + s * GEMM_NR, pc == 0, acc);
                }
            }
        }
    }
    free(bpack);
}
