/* The backend interface: what one folder under backends/ fills in.
 *
 * Private to the runtime and the backends. A backend provides one
 * dt_backend (enumeration and open) and, per opened device, one
 * dt_device_ops table. Backend structs embed struct dt_device / struct
 * dt_buffer as their first member and cast.
 *
 * The runtime has validated every op argument before a backend sees it:
 * dtypes, shapes, that each view lies inside its buffer and that every buffer
 * belongs to the device. Backends only check what only they can know (device
 * memory, driver errors). Tensor views carry byte offsets; all are multiples
 * of the element size. */
#ifndef DISTRO_RUNTIME_BACKEND_H
#define DISTRO_RUNTIME_BACKEND_H

#include "distro/ops.h"

typedef struct dt_device_ops dt_device_ops;

struct dt_device {
    const dt_device_ops *ops;
    dt_device_info info;
};

struct dt_buffer {
    dt_device *dev;
    size_t size;
};

typedef struct dt_backend {
    const char *name;
    /* Count devices; with none, *count = 0 and a reason in `why`. May be
     * called often: cache what is expensive. */
    dt_status (*probe)(int *count, char *why, size_t why_len);
    dt_status (*query)(int index, dt_device_info *info);
    dt_status (*open)(int index, dt_device **out);
} dt_backend;

/* Every entry is required except demo_apply: a backend that leaves it NULL
 * (or sets info.canonical_on_host) gets the host implementation, run by the
 * runtime through download / dt_demo_apply_host / upload. */
struct dt_device_ops {
    void (*close)(dt_device *dev);
    dt_status (*sync)(dt_device *dev);

    dt_status (*buffer_alloc)(dt_device *dev, size_t bytes, dt_buffer **out);
    void (*buffer_free)(dt_buffer *buf);
    dt_status (*upload)(dt_buffer *dst, size_t offset, const void *src, size_t bytes);
    dt_status (*download)(const dt_buffer *src, size_t offset, void *dst, size_t bytes);
    dt_status (*copy)(dt_buffer *dst, size_t dst_offset, const dt_buffer *src, size_t src_offset,
                      size_t bytes);

    /* desc is normalised: ld* and stride* filled in, batch >= 1. */
    dt_status (*gemm)(dt_device *dev, const dt_gemm_desc *desc, const dt_tensor *a,
                      const dt_tensor *b, const dt_tensor *c);

    dt_status (*embedding_fwd)(dt_device *dev, const dt_tensor *tokens, const dt_tensor *table,
                               const dt_tensor *out);
    dt_status (*embedding_bwd)(dt_device *dev, const dt_tensor *tokens, const dt_tensor *dout,
                               const dt_tensor *dtable);

    dt_status (*rmsnorm_fwd)(dt_device *dev, const dt_tensor *x, const dt_tensor *w,
                             const dt_tensor *y, const dt_tensor *rstd, int64_t rows, int64_t cols,
                             float eps);
    dt_status (*rmsnorm_bwd)(dt_device *dev, const dt_tensor *x, const dt_tensor *w,
                             const dt_tensor *rstd, const dt_tensor *dy, const dt_tensor *dx,
                             const dt_tensor *dw, int64_t rows, int64_t cols);

    /* inverse = 0 for the forward rotation, 1 for the backward. */
    dt_status (*rope)(dt_device *dev, const dt_tensor *x, const dt_tensor *table, int64_t rows,
                      int64_t width, int64_t seq_len, int64_t head_dim, int64_t rot_cols,
                      int inverse);

    dt_status (*attention_fwd)(dt_device *dev, const dt_tensor *qkv, const dt_tensor *out,
                               const dt_tensor *lse, int64_t batch, int64_t seq_len,
                               int64_t n_heads, int64_t head_dim, float scale);
    dt_status (*attention_bwd)(dt_device *dev, const dt_tensor *qkv, const dt_tensor *out,
                               const dt_tensor *dout, const dt_tensor *lse, const dt_tensor *dqkv,
                               const dt_tensor *scratch, int64_t batch, int64_t seq_len,
                               int64_t n_heads, int64_t head_dim, float scale);

    dt_status (*swiglu_fwd)(dt_device *dev, const dt_tensor *h, const dt_tensor *out, int64_t n,
                            int64_t f);
    dt_status (*swiglu_bwd)(dt_device *dev, const dt_tensor *h, const dt_tensor *dout,
                            const dt_tensor *dh, int64_t n, int64_t f);

    dt_status (*add)(dt_device *dev, const dt_tensor *a, const dt_tensor *b, const dt_tensor *y,
                     int64_t n);
    dt_status (*scale)(dt_device *dev, const dt_tensor *x, float alpha, const dt_tensor *y,
                       int64_t n);
    /* dt_copy is served by the `copy` entry above. */
    dt_status (*fill)(dt_device *dev, const dt_tensor *y, float value, int64_t n);

    /* dlogits is NULL for forward only. */
    dt_status (*softmax_xent)(dt_device *dev, const dt_tensor *logits, const dt_tensor *targets,
                              const dt_tensor *losses, const dt_tensor *dlogits, int64_t n,
                              int64_t vocab, float grad_scale);

    dt_status (*sum_squares)(dt_device *dev, const dt_tensor *x, const dt_tensor *out, int64_t n);
    dt_status (*check_finite)(dt_device *dev, const dt_tensor *x, const dt_tensor *out, int64_t n);

    dt_status (*adamw)(dt_device *dev, const dt_tensor *p, const dt_tensor *g, const dt_tensor *m,
                       const dt_tensor *v, int64_t n, const dt_adamw_params *params);

    dt_status (*demo_momentum)(dt_device *dev, const dt_tensor *d, const dt_tensor *g, int64_t n,
                               float beta, float lr);
    dt_status (*demo_encode)(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *x,
                             const dt_tensor *f1, const dt_tensor *f2, const dt_tensor *coeffs);
    dt_status (*demo_topk)(dt_device *dev, const dt_tensor *coeffs, int64_t n_tiles,
                           int64_t tile_size, int64_t k, const dt_tensor *idx,
                           const dt_tensor *vals);
    dt_status (*demo_decode_sub)(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                                 const dt_tensor *vals, int64_t k, const dt_tensor *f1,
                                 const dt_tensor *f2, const dt_tensor *d);
    dt_status (*demo_apply)(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                            const dt_tensor *vals, int64_t k, int64_t n_contrib,
                            const dt_tensor *recip, const dt_tensor *f1, const dt_tensor *f2,
                            const dt_tensor *w, float lr, float decay, dt_demo_update update);
};

/* The canonical update through the host: download the operands, run
 * dt_demo_apply_host, upload W. For a backend that finds, at run time, that
 * a call cannot be done exactly on its device. */
dt_status dt_demo_apply_via_host(const dt_tile_plan *plan, const dt_tensor *idx,
                                 const dt_tensor *vals, int64_t k, int64_t n_contrib,
                                 const dt_tensor *recip, const dt_tensor *f1, const dt_tensor *f2,
                                 const dt_tensor *w, float lr, float decay, dt_demo_update update);

/* Fill the fields common to every device of a backend (backend, index, spec). */
void dt_device_info_init(dt_device_info *info, const char *backend, int index);

/* A progress message to the callback of dt_set_log, if any. */
void dt_log(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Monotonic seconds, for timing one-time work in those messages. */
double dt_seconds(void);

/* Safe bounded string copy for info fields (always NUL-terminates). */
void dt_strlcpy(char *dst, const char *src, size_t size);

#endif
