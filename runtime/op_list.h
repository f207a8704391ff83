/* The one list of backend entries: every function a backend provides per
 * device, with its prototype. Everything else is generated from it: the
 * fields of dt_device_ops (runtime/backend.h), the op ids and names the
 * runtime reports (dt_op_name, dt_device_info.ops_on_device), and each
 * backend's declarations and table (backends/<name>/<name>_backend.h).
 *
 * X(ret, name, params, args): `params` is the parenthesised parameter list,
 * `args` the same names as a call's argument list, so a backend can also
 * generate forwarding wrappers (backends/cpu/cpu_device.c). Every op takes
 * the device as its first parameter, named `dev`.
 *
 * A backend defines its entries as <prefix><name>, e.g. cpu_gemm, ocl_gemm,
 * vk_op_gemm, and declares them with
 *
 *     #define MY_DECLARE(ret, name, params, args) ret my_##name params;
 *     DT_DEVICE_CORE(MY_DECLARE)
 *     DT_DEVICE_OPS(MY_DECLARE)
 *
 * Argument conventions of the ops are those of include/distro/ops.h; the
 * runtime has validated them (backend.h). */
#ifndef DISTRO_RUNTIME_OP_LIST_H
#define DISTRO_RUNTIME_OP_LIST_H

/* Device and buffer management: required; a device whose table lacks one of
 * these is refused when it opens. */
#define DT_DEVICE_CORE(X)                                                                          \
    X(void, close, (dt_device * dev), (dev))                                                       \
    X(dt_status, sync, (dt_device * dev), (dev))                                                   \
    X(dt_status, buffer_alloc, (dt_device * dev, size_t bytes, dt_buffer * *out),                  \
      (dev, bytes, out))                                                                           \
    X(void, buffer_free, (dt_buffer * buf), (buf))                                                 \
    X(dt_status, upload, (dt_buffer * dst, size_t offset, const void *src, size_t bytes),          \
      (dst, offset, src, bytes))                                                                   \
    X(dt_status, download, (const dt_buffer *src, size_t offset, void *dst, size_t bytes),         \
      (src, offset, dst, bytes))                                                                   \
    /* Device-to-device within one device; also serves dt_copy. */                                 \
    X(dt_status, copy,                                                                             \
      (dt_buffer * dst, size_t dst_offset, const dt_buffer *src, size_t src_offset, size_t bytes), \
      (dst, dst_offset, src, src_offset, bytes))

/* The ops. A backend may leave an entry NULL: the runtime then refuses the
 * op with DT_ERR_UNSUPPORTED naming the op and the device, except
 * demo_apply, which then runs on the host (download, dt_demo_apply_host,
 * upload). At most 64 entries (dt_device_info's bit masks). */
#define DT_DEVICE_OPS(X)                                                                           \
    /* desc is normalised: ld* and stride* filled in, batch >= 1. */                               \
    X(dt_status, gemm,                                                                             \
      (dt_device * dev, const dt_gemm_desc *desc, const dt_tensor *a, const dt_tensor *b,          \
       const dt_tensor *c),                                                                        \
      (dev, desc, a, b, c))                                                                        \
    X(dt_status, embedding_fwd,                                                                    \
      (dt_device * dev, const dt_tensor *tokens, const dt_tensor *table, const dt_tensor *out),    \
      (dev, tokens, table, out))                                                                   \
    X(dt_status, embedding_bwd,                                                                    \
      (dt_device * dev, const dt_tensor *tokens, const dt_tensor *dout, const dt_tensor *dtable),  \
      (dev, tokens, dout, dtable))                                                                 \
    X(dt_status, rmsnorm_fwd,                                                                      \
      (dt_device * dev, const dt_tensor *x, const dt_tensor *w, const dt_tensor *y,                \
       const dt_tensor *rstd, int64_t rows, int64_t cols, float eps),                              \
      (dev, x, w, y, rstd, rows, cols, eps))                                                       \
    X(dt_status, rmsnorm_bwd,                                                                      \
      (dt_device * dev, const dt_tensor *x, const dt_tensor *w, const dt_tensor *rstd,             \
       const dt_tensor *dy, const dt_tensor *dx, const dt_tensor *dw, int64_t rows, int64_t cols), \
      (dev, x, w, rstd, dy, dx, dw, rows, cols))                                                   \
    /* inverse = 0 for the forward rotation, 1 for the backward. */                                \
    X(dt_status, rope,                                                                             \
      (dt_device * dev, const dt_tensor *x, const dt_tensor *table, int64_t rows, int64_t width,   \
       int64_t seq_len, int64_t head_dim, int64_t rot_cols, int inverse),                          \
      (dev, x, table, rows, width, seq_len, head_dim, rot_cols, inverse))                          \
    X(dt_status, attention_fwd,                                                                    \
      (dt_device * dev, const dt_tensor *qkv, const dt_tensor *out, const dt_tensor *lse,          \
       int64_t batch, int64_t seq_len, int64_t n_heads, int64_t head_dim, float scale),            \
      (dev, qkv, out, lse, batch, seq_len, n_heads, head_dim, scale))                              \
    X(dt_status, attention_bwd,                                                                    \
      (dt_device * dev, const dt_tensor *qkv, const dt_tensor *out, const dt_tensor *dout,         \
       const dt_tensor *lse, const dt_tensor *dqkv, const dt_tensor *scratch, int64_t batch,       \
       int64_t seq_len, int64_t n_heads, int64_t head_dim, float scale),                           \
      (dev, qkv, out, dout, lse, dqkv, scratch, batch, seq_len, n_heads, head_dim, scale))         \
    X(dt_status, swiglu_fwd,                                                                       \
      (dt_device * dev, const dt_tensor *h, const dt_tensor *out, int64_t n, int64_t f),           \
      (dev, h, out, n, f))                                                                         \
    X(dt_status, swiglu_bwd,                                                                       \
      (dt_device * dev, const dt_tensor *h, const dt_tensor *dout, const dt_tensor *dh, int64_t n, \
       int64_t f),                                                                                 \
      (dev, h, dout, dh, n, f))                                                                    \
    X(dt_status, add,                                                                              \
      (dt_device * dev, const dt_tensor *a, const dt_tensor *b, const dt_tensor *y, int64_t n),    \
      (dev, a, b, y, n))                                                                           \
    X(dt_status, scale,                                                                            \
      (dt_device * dev, const dt_tensor *x, float alpha, const dt_tensor *y, int64_t n),           \
      (dev, x, alpha, y, n))                                                                       \
    X(dt_status, fill, (dt_device * dev, const dt_tensor *y, float value, int64_t n),              \
      (dev, y, value, n))                                                                          \
    /* dlogits is NULL for forward only. */                                                        \
    X(dt_status, softmax_xent,                                                                     \
      (dt_device * dev, const dt_tensor *logits, const dt_tensor *targets,                         \
       const dt_tensor *losses, const dt_tensor *dlogits, int64_t n, int64_t vocab,                \
       float grad_scale),                                                                          \
      (dev, logits, targets, losses, dlogits, n, vocab, grad_scale))                               \
    X(dt_status, sum_squares,                                                                      \
      (dt_device * dev, const dt_tensor *x, const dt_tensor *out, int64_t n), (dev, x, out, n))    \
    X(dt_status, check_finite,                                                                     \
      (dt_device * dev, const dt_tensor *x, const dt_tensor *out, int64_t n), (dev, x, out, n))    \
    X(dt_status, adamw,                                                                            \
      (dt_device * dev, const dt_tensor *p, const dt_tensor *g, const dt_tensor *m,                \
       const dt_tensor *v, int64_t n, const dt_adamw_params *params),                              \
      (dev, p, g, m, v, n, params))                                                                \
    X(dt_status, demo_momentum,                                                                    \
      (dt_device * dev, const dt_tensor *d, const dt_tensor *g, int64_t n, float beta, float lr),  \
      (dev, d, g, n, beta, lr))                                                                    \
    X(dt_status, demo_encode,                                                                      \
      (dt_device * dev, const dt_tile_plan *plan, const dt_tensor *x, const dt_tensor *f1,         \
       const dt_tensor *f2, const dt_tensor *coeffs),                                              \
      (dev, plan, x, f1, f2, coeffs))                                                              \
    X(dt_status, demo_topk,                                                                        \
      (dt_device * dev, const dt_tensor *coeffs, int64_t n_tiles, int64_t tile_size, int64_t k,    \
       const dt_tensor *idx, const dt_tensor *vals),                                               \
      (dev, coeffs, n_tiles, tile_size, k, idx, vals))                                             \
    X(dt_status, demo_decode_sub,                                                                  \
      (dt_device * dev, const dt_tile_plan *plan, const dt_tensor *idx, const dt_tensor *vals,     \
       int64_t k, const dt_tensor *f1, const dt_tensor *f2, const dt_tensor *d),                   \
      (dev, plan, idx, vals, k, f1, f2, d))                                                        \
    X(dt_status, demo_apply,                                                                       \
      (dt_device * dev, const dt_tile_plan *plan, const dt_tensor *idx, const dt_tensor *vals,     \
       int64_t k, int64_t n_contrib, const dt_tensor *recip, const dt_tensor *f1,                  \
       const dt_tensor *f2, const dt_tensor *w, float lr, float decay, dt_demo_update update),     \
      (dev, plan, idx, vals, k, n_contrib, recip, f1, f2, w, lr, decay, update))

/* Op ids, in list order: DT_OP_gemm, DT_OP_embedding_fwd, ... */
#define DT_OP_ENUM_(ret, name, params, args) DT_OP_##name,
typedef enum dt_op_id { DT_DEVICE_OPS(DT_OP_ENUM_) DT_OP_COUNT } dt_op_id;
#undef DT_OP_ENUM_

#endif
