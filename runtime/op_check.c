/* Shared argument checks for the op entry points. */
#include <math.h>
#include <stdio.h>

#include "runtime/op_check.h"

dt_status op_fail(const op_ctx *c, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dt_error(DT_ERR_INVALID, "%s: %s (device %s, %s)", c->op, msg, c->dev->info.spec,
                    c->dev->info.name);
}

const char *op_shape(const dt_tensor *t, char *buf, size_t len) {
    return dt_tensor_str(t, buf, len);
}

int64_t op_cols(const dt_tensor *t) {
    return t->shape[t->ndim - 1];
}

int64_t op_rows(const dt_tensor *t) {
    int64_t r = 1;
    for (int i = 0; i < t->ndim - 1; i++) r *= t->shape[i];
    return r;
}

dt_status op_view(const op_ctx *c, const char *name, const dt_tensor *t, dt_dtype dtype) {
    if (!t->buf) return op_fail(c, "%s has no buffer", name);
    if (t->buf->dev != c->dev)
        return op_fail(c, "%s lives on %s, not on this device", name, t->buf->dev->info.spec);
    if (t->ndim < 1 || t->ndim > DT_MAX_DIMS)
        return op_fail(c, "%s has %d dimensions (1 to %d)", name, t->ndim, DT_MAX_DIMS);
    char s[96];
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] < 1)
            return op_fail(c, "%s %s has an empty dimension", name, op_shape(t, s, sizeof s));
    if (t->dtype != dtype)
        return op_fail(c, "%s %s must be %s", name, op_shape(t, s, sizeof s), dt_dtype_name(dtype));
    size_t es = dt_dtype_size(t->dtype);
    if (t->offset % es)
        return op_fail(c, "%s offset %zu is not a multiple of %zu", name, t->offset, es);
    size_t bytes = dt_tensor_bytes(t);
    if (t->offset > t->buf->size || bytes > t->buf->size - t->offset)
        return op_fail(c, "%s %s at offset %zu overruns its buffer of %zu bytes", name,
                       op_shape(t, s, sizeof s), t->offset, t->buf->size);
    return DT_OK;
}

dt_status op_view_n(const op_ctx *c, const char *name, const dt_tensor *t, dt_dtype dtype,
                    int64_t numel, const char *expect) {
    OP_TRY(op_view(c, name, t, dtype));
    if (dt_tensor_numel(t) != numel) {
        char s[96];
        return op_fail(c, "%s is %s but must hold %lld elements (%s)", name,
                       op_shape(t, s, sizeof s), (long long)numel, expect);
    }
    return DT_OK;
}

dt_status op_finite(const op_ctx *c, const char *name, float v) {
    if (!isfinite(v)) return op_fail(c, "%s is %g, not a finite number", name, (double)v);
    return DT_OK;
}
