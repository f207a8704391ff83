/* Argument checks shared by the op entry points: each failure names the op,
 * the tensor, its shape and the device. */
#ifndef DISTRO_RUNTIME_OP_CHECK_H
#define DISTRO_RUNTIME_OP_CHECK_H

#include "runtime/backend.h"

typedef struct op_ctx {
    const char *op;
    dt_device *dev;
} op_ctx;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
dt_status
op_fail(const op_ctx *c, const char *fmt, ...);

/* A usable view on c->dev of the given dtype: buffer set, ndim 1..4, every
 * dimension >= 1, aligned, inside its buffer. */
dt_status op_view(const op_ctx *c, const char *name, const dt_tensor *t, dt_dtype dtype);

/* op_view plus an exact element count; `expect` describes it for the message
 * ("[B, T, D] = [2, 8, 64]"). */
dt_status op_view_n(const op_ctx *c, const char *name, const dt_tensor *t, dt_dtype dtype,
                    int64_t numel, const char *expect);

/* a * b for counts (a, b >= 0), INT64_MAX when the product would not fit:
 * an expected element count that wrapped could let a small view pass for a
 * large one; a saturated count matches no view. */
static inline int64_t op_mul(int64_t a, int64_t b) {
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

/* Last dimension, and the product of the others. */
int64_t op_cols(const dt_tensor *t);
int64_t op_rows(const dt_tensor *t);

/* Short shape text for messages; uses a small rotating static-free buffer
 * owned by the caller. */
const char *op_shape(const dt_tensor *t, char *buf, size_t len);

dt_status op_finite(const op_ctx *c, const char *name, float v);

/* DT_ERR_UNSUPPORTED: the device's backend leaves `op` out of its table. */
dt_status op_unsupported(const op_ctx *c, dt_op_id op);

/* Calls the device's entry `name` (an op of runtime/op_list.h) with the
 * parenthesised `args`, or refuses the op when the backend has no entry:
 * a missing op is never called. */
#define OP_DISPATCH(c, name, args)                                                                 \
    ((c)->dev->ops->name ? (c)->dev->ops->name args : op_unsupported((c), DT_OP_##name))

#define OP_TRY(expr)                                                                               \
    do {                                                                                           \
        dt_status op_try_st_ = (expr);                                                             \
        if (op_try_st_ != DT_OK) return op_try_st_;                                                \
    } while (0)

#endif
