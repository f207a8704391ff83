/* The op set (DESIGN.md section 2). Small and closed: a transformer's
 * forward and backward, AdamW, and the DeMo ops.
 *
 * Conventions, for every op:
 * - All tensors live on `dev`; f32 unless stated; dense row-major views.
 * - The runtime validates shapes and dtypes once, here; backends trust them.
 *   A failure returns a status and leaves a message naming the op, the
 *   shapes and the device.
 * - "Overwrites" outputs are fully written; "accumulates" outputs get `+=`
 *   (weight gradients accumulate so micro-batches add up for free).
 * - An output may alias an input only where stated.
 * - Shapes written below are checked by element count: a view of any shape
 *   with the stated number of elements is accepted.
 * - Token and index inputs are validated on the host before upload; a
 *   backend still skips out-of-range values instead of touching memory
 *   outside a tensor, exactly as stated per op. */
#ifndef DISTRO_OPS_H
#define DISTRO_OPS_H

#include "distro/demo_plan.h"
#include "distro/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- GEMM ------------------------------------------------------------------
 * For each b < batch: C_b = alpha * op(A_b) * op(B_b) + beta * C_b, row-major.
 * op(A) is m x k: A is stored m x k (row stride lda >= k), or k x m when
 * trans_a (lda >= m). op(B) is k x n: B stored k x n (ldb >= n), or n x k when
 * trans_b (ldb >= k). C is m x n (ldc >= n). A_b starts stride_a elements
 * after A_{b-1}, and likewise for B and C. ld* = 0 means packed; stride* = 0
 * means packed too (rows * ld), so a zero stride never shares an operand
 * across batch items. When beta == 0, C is not read (NaN or garbage in C does
 * not propagate).
 * Each operand view must hold every element the GEMM touches. */
typedef struct dt_gemm_desc {
    int trans_a, trans_b;
    int64_t m, n, k;
    float alpha, beta;
    int64_t lda, ldb, ldc;
    int64_t batch;
    int64_t stride_a, stride_b, stride_c;
} dt_gemm_desc;

dt_status dt_gemm(dt_device *dev, const dt_gemm_desc *desc, dt_tensor a, dt_tensor b, dt_tensor c);

/* Shorthand: single packed GEMM. */
dt_status dt_matmul(dt_device *dev, int trans_a, int trans_b, float alpha, dt_tensor a, dt_tensor b,
                    float beta, dt_tensor c);

/* ---- embedding -------------------------------------------------------------
 * tokens i32 [n], table [vocab, dim], out [n, dim] (overwrites):
 * out[t] = table[tokens[t]]; a token outside [0, vocab) gives a zero row. */
dt_status dt_embedding_fwd(dt_device *dev, dt_tensor tokens, dt_tensor table, dt_tensor out);
/* dtable[tokens[t]] += dout[t] for each t in order (accumulates); tokens
 * outside [0, vocab) are skipped. */
dt_status dt_embedding_bwd(dt_device *dev, dt_tensor tokens, dt_tensor dout, dt_tensor dtable);

/* ---- RMSNorm ---------------------------------------------------------------
 * x, y [rows, cols], w [cols], rstd [rows] (overwritten, kept for backward):
 * rstd[r] = 1 / sqrt(mean_c(x[r,c]^2) + eps), y[r,c] = x[r,c] * rstd[r] * w[c].
 * y may alias x. */
dt_status dt_rmsnorm_fwd(dt_device *dev, dt_tensor x, dt_tensor w, dt_tensor y, dt_tensor rstd,
                         float eps);
/* dx [rows, cols] overwritten; dw [cols] accumulates. dx may alias dy. */
dt_status dt_rmsnorm_bwd(dt_device *dev, dt_tensor x, dt_tensor w, dt_tensor rstd, dt_tensor dy,
                         dt_tensor dx, dt_tensor dw);

/* ---- RoPE ------------------------------------------------------------------
 * In place on x [rows, width]; rows are (batch, position) flattened, so the
 * position of row r is r % seq_len, seq_len = table.shape[0]; rows must be a
 * multiple of it. table [seq_len, head_dim/2, 2] from dt_rope_table(). The
 * first rot_cols columns (a multiple of head_dim) are heads of head_dim; in
 * each, pair i = (x[2i], x[2i+1]) is rotated by the angle of (position, i):
 *   fwd: (x0 c - x1 s, x0 s + x1 c)      bwd: (x0 c + x1 s, -x0 s + x1 c)
 * The backward is the transpose (inverse) rotation, applied to gradients. */
dt_status dt_rope_fwd(dt_device *dev, dt_tensor x, dt_tensor table, int64_t head_dim,
                      int64_t rot_cols);
dt_status dt_rope_bwd(dt_device *dev, dt_tensor dx, dt_tensor table, int64_t head_dim,
                      int64_t rot_cols);

/* ---- causal self-attention (fused) -----------------------------------------
 * qkv [B, T, 3*D], D = n_heads * hd: q of head h is columns [h*hd, (h+1)*hd),
 * k the same plus D, v plus 2*D. For each (b, h, t):
 *   s_u = scale * q_t . k_u for u <= t,  p = softmax(s),  out_t = sum_u p_u v_u
 * out [B, T, D] (head h in columns h*hd..) overwritten; lse [B, n_heads, T]
 * overwritten with log(sum_u exp(s_u)), kept for the backward. */
dt_status dt_attention_fwd(dt_device *dev, dt_tensor qkv, dt_tensor out, dt_tensor lse,
                           int64_t n_heads, float scale);
/* dqkv [B, T, 3*D] overwritten with the gradients of q, k and v; scratch
 * [B, n_heads, T] is working space (its contents are undefined after). */
dt_status dt_attention_bwd(dt_device *dev, dt_tensor qkv, dt_tensor out, dt_tensor dout,
                           dt_tensor lse, dt_tensor dqkv, dt_tensor scratch, int64_t n_heads,
                           float scale);

/* ---- SwiGLU ----------------------------------------------------------------
 * h [n, 2F] = [gate | up] (gate in columns 0..F-1), out [n, F] overwritten:
 * out = silu(gate) * up, silu(g) = g / (1 + exp(-g)). */
dt_status dt_swiglu_fwd(dt_device *dev, dt_tensor h, dt_tensor out);
/* dh [n, 2F] overwritten. */
dt_status dt_swiglu_bwd(dt_device *dev, dt_tensor h, dt_tensor dout, dt_tensor dh);

/* ---- elementwise (same numel; y may alias any input) ------------------------ */
dt_status dt_add(dt_device *dev, dt_tensor a, dt_tensor b, dt_tensor y);   /* y = a + b */
dt_status dt_scale(dt_device *dev, dt_tensor x, float alpha, dt_tensor y); /* y = alpha x */
dt_status dt_copy(dt_device *dev, dt_tensor src, dt_tensor dst); /* any dtype, same size */
dt_status dt_fill(dt_device *dev, dt_tensor y, float value);     /* f32 */

/* ---- softmax cross-entropy (fused forward + backward) ------------------------
 * logits [n, V], targets i32 [n], losses [n] overwritten:
 *   losses[r] = logsumexp(logits[r]) - logits[r][targets[r]]
 * If dlogits.buf is non-NULL, dlogits [n, V] is overwritten with
 *   (softmax(logits[r]) - onehot(targets[r])) * grad_scale; it may alias logits.
 * A target outside [0, V) gives loss NaN and a zero gradient row. */
dt_status dt_softmax_xent(dt_device *dev, dt_tensor logits, dt_tensor targets, dt_tensor losses,
                          dt_tensor dlogits, float grad_scale);

/* ---- reductions (out: a 1-element f32 view, overwritten) --------------------- */
dt_status dt_sum_squares(dt_device *dev, dt_tensor x, dt_tensor out);
/* out = 1 if every element of x is finite, else 0. */
dt_status dt_check_finite(dt_device *dev, dt_tensor x, dt_tensor out);

/* ---- AdamW -----------------------------------------------------------------
 * With g' = grad_scale * g:
 *   m = beta1 m + (1 - beta1) g'      v = beta2 v + (1 - beta2) g'^2
 *   p = p (1 - lr wd) - lr (m / bias1) / (sqrt(v / bias2) + eps)
 * bias1 = 1 - beta1^t, bias2 = 1 - beta2^t are computed by the caller. */
typedef struct dt_adamw_params {
    float lr, beta1, beta2, eps, weight_decay;
    float bias1, bias2;
    float grad_scale;
} dt_adamw_params;

dt_status dt_adamw(dt_device *dev, dt_tensor p, dt_tensor g, dt_tensor m, dt_tensor v,
                   const dt_adamw_params *params);

/* ---- DeMo (DESIGN.md sections 3 and 4) ---------------------------------------
 * Every DeMo op works on one parameter tensor cut by a dt_tile_plan; f1
 * [tile_rows, tile_rows] and f2 [tile_cols, tile_cols] are dt_dct_basis()
 * uploaded once. S = plan.tile_size, k = entries kept per tile. */

/* D = beta * D + lr * g (the learning rate is folded into the momentum). */
dt_status dt_demo_momentum(dt_device *dev, dt_tensor d, dt_tensor g, float beta, float lr);

/* coeffs [n_tiles, S] overwritten: per tile x, X = F1^T x F2, i.e.
 * X[a][b] = sum_s sum_m F1[s][a] x[s][m] F2[m][b]. x has rows * cols elements. */
dt_status dt_demo_encode(dt_device *dev, const dt_tile_plan *plan, dt_tensor x, dt_tensor f1,
                         dt_tensor f2, dt_tensor coeffs);

/* Per tile, the k coefficients of largest |value|; among equal |value| the
 * lower index wins. Coefficients must be finite (the optimizer checks the
 * gradient norm first); with NaN the selection is unspecified. idx i32 [n_tiles, k] and vals
 * [n_tiles, k] overwritten, ascending by index within each tile; vals are the signed coefficients.
 */
dt_status dt_demo_topk(dt_device *dev, dt_tensor coeffs, int64_t k, dt_tensor idx, dt_tensor vals);

/* Error feedback: D -= decode of the sparse tiles (idx, vals) [n_tiles, k]:
 * per tile, A is zero except A[idx] = vals, and x = F1 A F2^T is subtracted.
 * Indices within a tile are distinct (as top-k produces them); entries with
 * an index outside [0, S) are skipped. */
dt_status dt_demo_decode_sub(dt_device *dev, const dt_tile_plan *plan, dt_tensor idx,
                             dt_tensor vals, dt_tensor f1, dt_tensor f2, dt_tensor d);

/* How the canonical update moves W by the decoded mean X. */
typedef enum dt_demo_update {
    DT_DEMO_UPDATE_SIGN = 0,   /* W = (W * decay) - (lr * sign(X)): DeMo */
    DT_DEMO_UPDATE_SCALED = 1, /* W = (W * decay) - (lr * X): local steps' outer step */
} dt_demo_update;

/* The canonical aggregate-decode-sign-apply (DESIGN.md section 4), bit-exact
 * on every backend. idx i32 and vals [n_contrib, n_tiles, k], contributions
 * in ascending peer id; recip [>= n_contrib + 1] from dt_recip_table(). Per
 * tile, in this order and with no fused multiply-add:
 *   acc[i] = 0, cnt[i] = 0; for c, for e in stored order: acc[idx] += val,
 *   cnt[idx] += 1 (an index outside [0, S) is skipped);
 *   A[i] = acc[i] * recip[cnt[i]];
 *   Y[h][b] = sum_a F1[h][a] * A[a][b]   (from 0.0f, ascending a)
 *   X[h][w] = sum_b Y[h][b] * F2[w][b]   (from 0.0f, ascending b)
 *   s = X > 0 ? 1 : X < 0 ? -1 : 0 (DT_DEMO_UPDATE_SIGN) or s = X (SCALED);
 *   W = (W * decay) - (lr * s), each product rounded on its own.
 * Indices within one contribution's tile are distinct (the wire layer
 * guarantees it). lr and decay arrive as float bits from the coordinator. */
dt_status dt_demo_apply(dt_device *dev, const dt_tile_plan *plan, dt_tensor idx, dt_tensor vals,
                        int64_t n_contrib, dt_tensor recip, dt_tensor f1, dt_tensor f2, dt_tensor w,
                        float lr, float decay, dt_demo_update update);

/* The same canonical update computed on host memory; what the CPU backend
 * runs and the fallback for devices that cannot be made exact. idx and vals
 * hold n_contrib * n_tiles * k entries; w holds rows * cols floats. */
dt_status dt_demo_apply_host(const dt_tile_plan *plan, const int32_t *idx, const float *vals,
                             int64_t k, int64_t n_contrib, const float *recip, const float *f1,
                             const float *f2, float *w, float lr, float decay,
                             dt_demo_update update);

#ifdef __cplusplus
}
#endif
#endif
