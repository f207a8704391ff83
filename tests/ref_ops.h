/* An independent reference for every op of include/distro/ops.h, written
 * from the header alone: double precision throughout (so it can also serve
 * finite differences), plus a float version of the canonical DeMo update
 * written from DESIGN.md section 4 for bit-exact comparison.
 *
 * Layouts are exactly those of ops.h. "Accumulates" outputs get +=. */
#ifndef DISTRO_TESTS_REF_OPS_H
#define DISTRO_TESTS_REF_OPS_H

#include <stdint.h>

#include "distro/distro.h"

/* ---- GEMM ----------------------------------------------------------------- */

/* Fills ld* and stride* the way ops.h defines the zeros, batch >= 1. */
void ref_gemm_normalise(const dt_gemm_desc *in, dt_gemm_desc *out);
/* Elements each operand spans (last touched index + 1) for a normalised desc. */
int64_t ref_gemm_extent_a(const dt_gemm_desc *d);
int64_t ref_gemm_extent_b(const dt_gemm_desc *d);
int64_t ref_gemm_extent_c(const dt_gemm_desc *d);
/* C_b = alpha op(A_b) op(B_b) + beta C_b on a normalised desc; C is not read
 * when beta == 0. Elements of C outside the m x n items are left alone. */
void ref_gemm(const dt_gemm_desc *d, const double *a, const double *b, double *c);

/* ---- transformer ops ------------------------------------------------------- */

void ref_embedding_fwd(const int32_t *tokens, int64_t n, const double *table, int64_t vocab,
                       int64_t dim, double *out);
void ref_embedding_bwd(const int32_t *tokens, int64_t n, const double *dout, int64_t vocab,
                       int64_t dim, double *dtable);

void ref_rmsnorm_fwd(const double *x, const double *w, int64_t rows, int64_t cols, double eps,
                     double *y, double *rstd);
/* Uses the given rstd, as the op does; dw accumulates. */
void ref_rmsnorm_bwd(const double *x, const double *w, const double *rstd, const double *dy,
                     int64_t rows, int64_t cols, double *dx, double *dw);

/* In place; table as from dt_rope_table: [seq_len, head_dim/2, 2]. */
void ref_rope(double *x, int64_t rows, int64_t width, const double *table, int64_t seq_len,
              int64_t head_dim, int64_t rot_cols, int inverse);

void ref_attention_fwd(const double *qkv, int64_t B, int64_t T, int64_t H, int64_t hd, double scale,
                       double *out, double *lse);
/* Recomputes the probabilities from qkv; dqkv overwritten. */
void ref_attention_bwd(const double *qkv, const double *dout, int64_t B, int64_t T, int64_t H,
                       int64_t hd, double scale, double *dqkv);

void ref_swiglu_fwd(const double *h, int64_t n, int64_t f, double *out);
void ref_swiglu_bwd(const double *h, const double *dout, int64_t n, int64_t f, double *dh);

/* dlogits may be NULL. An out-of-range target gives loss NaN and a zero row. */
void ref_softmax_xent(const double *logits, const int32_t *targets, int64_t n, int64_t vocab,
                      double grad_scale, double *losses, double *dlogits);

double ref_sum_squares(const double *x, int64_t n);
/* Works on the floats themselves: finiteness is a property of the bits. */
int ref_check_finite(const float *x, int64_t n);

/* p, m, v in place. */
void ref_adamw(double *p, const double *g, double *m, double *v, int64_t n,
               const dt_adamw_params *hp);

/* ---- DeMo -------------------------------------------------------------------- */

void ref_demo_momentum(double *d, const double *g, int64_t n, double beta, double lr);
/* coeffs [n_tiles, S]; f1, f2 as uploaded (float basis values). */
void ref_demo_encode(const dt_tile_plan *p, const double *x, const double *f1, const double *f2,
                     double *coeffs);
/* Exact selection on the float coefficients themselves. */
void ref_demo_topk(const float *coeffs, int64_t n_tiles, int64_t size, int64_t k, int32_t *idx,
                   float *vals);
void ref_demo_decode_sub(const dt_tile_plan *p, const int32_t *idx, const double *vals, int64_t k,
                         const double *f1, const double *f2, double *d);

/* The canonical update in float, rounding each product and sum on its own
 * (ref_apply.c is compiled with -ffp-contract=off), under either update
 * rule. Same arguments as dt_demo_apply_host. */
void ref_demo_apply_f(const dt_tile_plan *plan, const int32_t *idx, const float *vals, int64_t k,
                      int64_t n_contrib, const float *recip, const float *f1, const float *f2,
                      float *w, float lr, float decay, dt_demo_update update);

/* Plausible but non-canonical ways to compute the same update; a backend
 * doing any of these drifts from the other replicas at knife edges. */
enum {
    REF_APPLY_EXACT = 0,  /* the canonical op */
    REF_APPLY_FMA,        /* both IDCT sums with fused multiply-add */
    REF_APPLY_WIDE,       /* the slot sums and both IDCT sums accumulated in double */
    REF_APPLY_DESCENDING, /* both IDCT sums in descending index order */
    REF_APPLY_DIVIDE,     /* A = acc / cnt instead of acc * recip[cnt] */
    REF_APPLY_REVERSED,   /* contributions in descending peer order */
    REF_APPLY_FMA_DECAY,  /* the final step as fma(W, decay, -(lr * s)) */
    REF_APPLY_FMA_STEP,   /* fma(-lr, s, W * decay): scaled only (lr * sign is exact) */
    REF_APPLY_VARIANTS
};
void ref_demo_apply_variant(const dt_tile_plan *plan, const int32_t *idx, const float *vals,
                            int64_t k, int64_t n_contrib, const float *recip, const float *f1,
                            const float *f2, float *w, float lr, float decay, dt_demo_update update,
                            int variant);

#endif
