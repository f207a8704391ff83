/* Fused causal self-attention, forward and backward, one (batch, head) per
 * task, in the manner of FlashAttention: scores are made and consumed in
 * blocks of ATT_QB queries x ATT_KB keys that stay in L1, so nothing of size
 * T x T is ever stored and nothing is allocated.
 *
 * Layout of a block: scores are kept transposed, st[u] holds key u's score
 * for all ATT_QB queries of the block as one vector. The softmax statistics
 * (running max, sum) are then per-lane vector operations, and the products
 * with V, K, Q and dO are broadcast-times-row updates along head_dim. Where
 * head_dim is the reduction (q . k, dO . v), the query block is transposed
 * first, ATT_DC columns at a time, so the reduction also runs across lanes
 * instead of needing a horizontal sum per score.
 *
 * Compiled with -O3 -ffp-contract=fast: the `+= a * x` updates must become
 * fused multiply-adds. Results do not depend on the thread count. */
#include <math.h>
#include <string.h>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_vec_math.h"

/* The vector type below is 64 bytes on every target. Without AVX-512 GCC
 * notes that passing one by value has no settled ABI; that cannot matter for
 * static functions, which never cross a library boundary. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#define ATT_QB 16 /* queries per block: the lanes of att_vec */
#define ATT_KB 64 /* keys per block; a multiple of ATT_QB */
/* Rows updated together in the inner kernels, each with its own accumulator:
 * enough independent FMA chains to cover the latency, within the register
 * file (32 vector registers with AVX-512, 16 otherwise). Divides ATT_QB. */
#if defined(__AVX512F__)
#define ATT_RG 8
#else
#define ATT_RG 4
#endif
#define ATT_DC 64 /* head_dim columns per transposed chunk of a query block */

/* ATT_QB floats (and lane masks); GCC/Clang lower them to whatever vector
 * registers exist. */
typedef float att_vec __attribute__((vector_size(ATT_QB * sizeof(float))));
typedef int32_t att_mask __attribute__((vector_size(ATT_QB * sizeof(int32_t))));
_Static_assert(ATT_QB == 16, "the lane index vector in attention_fwd_head lists 16 lanes");

/* Lanes where m is set take a, the others b. */
static inline att_vec select_vec(att_mask m, att_vec a, att_vec b) {
    return (att_vec)((m & (att_mask)a) | (~m & (att_mask)b));
}

static inline att_vec load_vec(const float *p) {
    att_vec v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store_vec(float *p, att_vec v) {
    memcpy(p, &v, sizeof v);
}

static inline int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

/* st[u][i] = sum_d k[u][d] * q[i][d] for u < un and every lane i; lanes of
 * query rows i >= qn get 0. q rows are ldq apart, k rows ldk apart. */
static void block_scores(const float *q, int64_t ldq, int64_t qn, const float *k, int64_t ldk,
                         int64_t un, int64_t hd, att_vec *st) {
    att_vec qt[ATT_DC];
    for (int64_t d0 = 0; d0 < hd; d0 += ATT_DC) {
        const int64_t dn = min64(ATT_DC, hd - d0);
        for (int64_t d = 0; d < dn; d++) qt[d] = (att_vec){0};
        for (int64_t i = 0; i < qn; i++) {
            const float *qr = q + i * ldq + d0;
            for (int64_t d = 0; d < dn; d++) qt[d][i] = qr[d];
        }
        /* ATT_RG keys at a time share each qt load; a short last group
         * repeats its final key rather than branch in the inner loop. */
        for (int64_t u0 = 0; u0 < un; u0 += ATT_RG) {
            const int64_t nr = min64(ATT_RG, un - u0);
            const float *kr[ATT_RG];
            att_vec a[ATT_RG];
            for (int r = 0; r < ATT_RG; r++) {
                const int64_t u = u0 + (r < nr ? r : nr - 1);
                kr[r] = k + u * ldk + d0;
                a[r] = d0 == 0 ? (att_vec){0} : st[u];
            }
            for (int64_t d = 0; d < dn; d++) {
                const att_vec x = qt[d];
                for (int r = 0; r < ATT_RG; r++) a[r] += kr[r][d] * x;
            }
            for (int r = 0; r < nr; r++) st[u0 + r] = a[r];
        }
    }
}

/* For query rows i < qn:
 *   dst[i][:] = dst[i][:] * pre[i] + sum_{u < un} c[u][i] * src[u][:]
 * (pre NULL: 1). ATT_RG output rows at a time share each load of src. */
static void rows_from_keys(const att_vec *c, int64_t un, int64_t qn, const float *src, int64_t lds,
                           float *dst, int64_t ldd, int64_t hd, const float *pre) {
    for (int64_t i0 = 0; i0 < qn; i0 += ATT_RG) {
        const int64_t ni = min64(ATT_RG, qn - i0);
        int64_t d = 0;
        for (; d + ATT_QB <= hd; d += ATT_QB) {
            att_vec a[ATT_RG];
            for (int r = 0; r < ATT_RG; r++)
                a[r] = r < ni ? load_vec(dst + (i0 + r) * ldd + d) * (pre ? pre[i0 + r] : 1.0f)
                              : (att_vec){0};
            for (int64_t u = 0; u < un; u++) {
                const att_vec x = load_vec(src + u * lds + d);
                for (int r = 0; r < ATT_RG; r++) a[r] += c[u][i0 + r] * x;
            }
            for (int r = 0; r < ni; r++) store_vec(dst + (i0 + r) * ldd + d, a[r]);
        }
        for (; d < hd; d++) {
            for (int64_t r = 0; r < ni; r++) {
                float a = dst[(i0 + r) * ldd + d] * (pre ? pre[i0 + r] : 1.0f);
                for (int64_t u = 0; u < un; u++) a += c[u][i0 + r] * src[u * lds + d];
                dst[(i0 + r) * ldd + d] = a;
            }
        }
    }
}

/* For key rows u < un:  dst[u][:] += sum_{i < qn} c[u][i] * src[i][:].
 * c must hold finite rows up to un rounded up to ATT_RG (the caller zeroes
 * them). */
static void rows_from_queries(const att_vec *c, int64_t un, int64_t qn, const float *src,
                              int64_t lds, float *dst, int64_t ldd, int64_t hd) {
    for (int64_t u0 = 0; u0 < un; u0 += ATT_RG) {
        const int64_t nu = min64(ATT_RG, un - u0);
        int64_t d = 0;
        for (; d + ATT_QB <= hd; d += ATT_QB) {
            att_vec a[ATT_RG];
            for (int r = 0; r < ATT_RG; r++)
                a[r] = r < nu ? load_vec(dst + (u0 + r) * ldd + d) : (att_vec){0};
            for (int64_t i = 0; i < qn; i++) {
                const att_vec x = load_vec(src + i * lds + d);
                for (int r = 0; r < ATT_RG; r++) a[r] += c[u0 + r][i] * x;
            }
            for (int r = 0; r < nu; r++) store_vec(dst + (u0 + r) * ldd + d, a[r]);
        }
        for (; d < hd; d++) {
            for (int64_t r = 0; r < nu; r++) {
                float a = dst[(u0 + r) * ldd + d];
                for (int64_t i = 0; i < qn; i++) a += c[u0 + r][i] * src[i * lds + d];
                dst[(u0 + r) * ldd + d] = a;
            }
        }
    }
}

/* One (batch, head). q, k, v: row 0 of the head, rows ld apart; o rows ldo
 * apart; lse: T entries. Online softmax over key blocks: per query lane a
 * running max m and sum l; when m grows, what was accumulated is rescaled by
 * exp(m_old - m_new). */
static void attention_fwd_head(const float *q, const float *k, const float *v, int64_t ld, float *o,
                               int64_t ldo, float *lse, int64_t T, int64_t hd, float scale) {
    att_vec st[ATT_KB];
    for (int64_t t0 = 0; t0 < T; t0 += ATT_QB) {
        const int64_t qn = min64(ATT_QB, T - t0);
        float m[ATT_QB], l[ATT_QB], corr[ATT_QB];
        for (int i = 0; i < ATT_QB; i++) {
            m[i] = -INFINITY;
            l[i] = 0.0f;
        }
        for (int64_t i = 0; i < qn; i++) memset(o + (t0 + i) * ldo, 0, (size_t)hd * sizeof(float));
        /* Key blocks start at multiples of ATT_KB <= t0, so each holds at least
         * one visible key for every query of the block: m never stays -inf. */
        for (int64_t u0 = 0; u0 < t0 + qn; u0 += ATT_KB) {
            const int64_t un = min64(ATT_KB, t0 + qn - u0);
            block_scores(q + t0 * ld, ld, qn, k + u0 * ld, ld, un, hd, st);
            /* Scale, hide the keys after each query, and take the block max.
             * Written on whole vectors: as a lane loop GCC unrolls it into
             * scalar code. Key u0+u is visible to query t0+i when
             * u0+u <= t0+i. */
            const att_mask lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
            const att_vec hidden = (att_vec){0} - INFINITY;
            att_vec bmv = hidden;
            for (int64_t u = 0; u < un; u++) {
                const att_mask visible = lane >= (int32_t)(u0 + u - t0);
                const att_vec s = select_vec(visible, st[u] * scale, hidden);
                st[u] = s;
                bmv = select_vec(s > bmv, s, bmv);
            }
            float bm[ATT_QB];
            memcpy(bm, &bmv, sizeof bm);
            float mnew[ATT_QB], sum[ATT_QB];
            for (int i = 0; i < ATT_QB; i++) {
                mnew[i] = bm[i] > m[i] ? bm[i] : m[i];
                corr[i] = cpu_expf(m[i] - mnew[i]);
                sum[i] = 0.0f;
            }
            for (int64_t u = 0; u < un; u++)
                for (int i = 0; i < ATT_QB; i++) {
                    const float p = cpu_expf(st[u][i] - mnew[i]);
                    st[u][i] = p;
                    sum[i] += p;
                }
            for (int i = 0; i < ATT_QB; i++) {
                l[i] = l[i] * corr[i] + sum[i];
                m[i] = mnew[i];
            }
            rows_from_keys(st, un, qn, v + u0 * ld, ld, o + t0 * ldo, ldo, hd, corr);
        }
        for (int64_t i = 0; i < qn; i++) {
            const float inv = 1.0f / l[i];
            float *orow = o + (t0 + i) * ldo;
            for (int64_t d = 0; d < hd; d++) orow[d] *= inv;
            lse[t0 + i] = m[i] + logf(l[i]);
        }
    }
}

dt_status cpu_attention_fwd(dt_device *dev, const dt_tensor *qkv, const dt_tensor *out,
                            const dt_tensor *lse, int64_t batch, int64_t seq_len, int64_t n_heads,
                            int64_t head_dim, float scale) {
    (void)dev;
    const int64_t D = n_heads * head_dim, ld = 3 * D;
    const float *x = cpu_f32(qkv);
    float *o = cpu_f32(out), *pl = cpu_f32(lse);
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < batch * n_heads; bh++) {
        const int64_t b = bh / n_heads, h = bh % n_heads;
        const float *q = x + b * seq_len * ld + h * head_dim;
        attention_fwd_head(q, q + D, q + 2 * D, ld, o + b * seq_len * D + h * head_dim, D,
                           pl + bh * seq_len, seq_len, head_dim, scale);
    }
    return DT_OK;
}

/* One (batch, head) of the backward, key blocks outermost so the dK and dV
 * rows of a block stay in cache while every later query block adds to them:
 *   P = exp(scale q.k - lse)      dP = dO . v      dS = P (dP - delta)
 *   dV += P^T dO     dK += scale dS^T Q     dQ += scale dS K
 * with delta_t = dO_t . O_t (the softmax Jacobian's diagonal term). */
static void attention_bwd_head(const float *q, const float *k, const float *v, int64_t ld,
                               const float *o, const float *dout, int64_t ldo, const float *lse,
                               float *delta, float *dq, int64_t T, int64_t hd, float scale) {
    float *dk = dq + (k - q), *dv = dq + (v - q);
    att_vec p[ATT_KB], ds[ATT_KB];
    for (int64_t t = 0; t < T; t++) {
        delta[t] = cpu_dot(dout + t * ldo, o + t * ldo, hd);
        memset(dq + t * ld, 0, (size_t)hd * sizeof(float));
        memset(dk + t * ld, 0, (size_t)hd * sizeof(float));
        memset(dv + t * ld, 0, (size_t)hd * sizeof(float));
    }
    for (int64_t u0 = 0; u0 < T; u0 += ATT_KB) {
        const int64_t un = min64(ATT_KB, T - u0);
        /* Queries before u0 see none of these keys; u0 is a multiple of ATT_QB. */
        for (int64_t t0 = u0; t0 < T; t0 += ATT_QB) {
            const int64_t qn = min64(ATT_QB, T - t0);
            const int64_t unv = min64(un, t0 + qn - u0); /* keys visible to the block */
            block_scores(q + t0 * ld, ld, qn, k + u0 * ld, ld, unv, hd, p);
            block_scores(dout + t0 * ldo, ldo, qn, v + u0 * ld, ld, unv, hd, ds);
            float lse_b[ATT_QB], delta_b[ATT_QB];
            for (int i = 0; i < ATT_QB; i++) {
                lse_b[i] = i < qn ? lse[t0 + i] : 0.0f;
                delta_b[i] = i < qn ? delta[t0 + i] : 0.0f;
            }
            for (int64_t u = 0; u < unv; u++) {
                const int64_t first = u0 + u - t0;
                for (int i = 0; i < ATT_QB; i++) {
                    const int visible = i >= first && i < qn;
                    const float pr = visible ? cpu_expf(p[u][i] * scale - lse_b[i]) : 0.0f;
                    p[u][i] = pr;
                    ds[u][i] = pr * (ds[u][i] - delta_b[i]) * scale;
                }
            }
            for (int64_t u = unv; u < (unv + ATT_RG - 1) / ATT_RG * ATT_RG; u++)
                p[u] = ds[u] = (att_vec){0};
            rows_from_queries(p, unv, qn, dout + t0 * ldo, ldo, dv + u0 * ld, ld, hd);
            rows_from_queries(ds, unv, qn, q + t0 * ld, ld, dk + u0 * ld, ld, hd);
            rows_from_keys(ds, unv, qn, k + u0 * ld, ld, dq + t0 * ld, ld, hd, NULL);
        }
    }
}

dt_status cpu_attention_bwd(dt_device *dev, const dt_tensor *qkv, const dt_tensor *out,
                            const dt_tensor *dout, const dt_tensor *lse, const dt_tensor *dqkv,
                            const dt_tensor *scratch, int64_t batch, int64_t seq_len,
                            int64_t n_heads, int64_t head_dim, float scale) {
    (void)dev;
    const int64_t D = n_heads * head_dim, ld = 3 * D;
    const float *x = cpu_f32(qkv), *o = cpu_f32(out), *d = cpu_f32(dout), *pl = cpu_f32(lse);
    float *dx = cpu_f32(dqkv), *delta = cpu_f32(scratch);
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < batch * n_heads; bh++) {
        const int64_t b = bh / n_heads, h = bh % n_heads;
        const int64_t qoff = b * seq_len * ld + h * head_dim, ooff = b * seq_len * D + h * head_dim;
        attention_bwd_head(x + qoff, x + qoff + D, x + qoff + 2 * D, ld, o + ooff, d + ooff, D,
                           pl + bh * seq_len, delta + bh * seq_len, dx + qoff, seq_len, head_dim,
                           scale);
    }
    return DT_OK;
}
