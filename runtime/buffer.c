/* Buffers and tensor views: bounds checks on every host-visible transfer. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "runtime/backend.h"

static dt_status check_range(const char *what, const dt_buffer *buf, size_t offset, size_t bytes) {
    if (!buf) return dt_error(DT_ERR_INVALID, "%s: buffer is NULL", what);
    if (offset > buf->size || bytes > buf->size - offset)
        return dt_error(DT_ERR_INVALID, "%s: range [%zu, %zu) outside a buffer of %zu bytes on %s",
                        what, offset, offset + bytes, buf->size, buf->dev->info.spec);
    return DT_OK;
}

dt_status dt_buffer_alloc(dt_device *dev, size_t bytes, dt_buffer **out) {
    *out = NULL;
    if (bytes == 0) return dt_error(DT_ERR_INVALID, "buffer_alloc: 0 bytes on %s", dev->info.spec);
    /* No address space holds more, and a backend's rounding up (to 64
     * bytes, to a page) must not wrap to a tiny allocation. */
    if (bytes > (size_t)PTRDIFF_MAX / 2)
        return dt_error(DT_ERR_OOM, "buffer_alloc: %zu bytes on %s is more than any device holds",
                        bytes, dev->info.spec);
    dt_status st = dev->ops->buffer_alloc(dev, bytes, out);
    if (st == DT_OK) {
        (*out)->dev = dev;
        (*out)->size = bytes;
    }
    return st;
}

void dt_buffer_free(dt_buffer *buf) {
    if (buf) buf->dev->ops->buffer_free(buf);
}

size_t dt_buffer_size(const dt_buffer *buf) {
    return buf->size;
}
dt_device *dt_buffer_device(const dt_buffer *buf) {
    return buf->dev;
}

dt_status dt_buffer_upload(dt_buffer *dst, size_t offset, const void *src, size_t bytes) {
    dt_status st = check_range("upload", dst, offset, bytes);
    if (st != DT_OK || bytes == 0) return st;
    return dst->dev->ops->upload(dst, offset, src, bytes);
}

dt_status dt_buffer_download(const dt_buffer *src, size_t offset, void *dst, size_t bytes) {
    dt_status st = check_range("download", src, offset, bytes);
    if (st != DT_OK || bytes == 0) return st;
    return src->dev->ops->download(src, offset, dst, bytes);
}

dt_status dt_buffer_copy(dt_buffer *dst, size_t dst_offset, const dt_buffer *src, size_t src_offset,
                         size_t bytes) {
    dt_status st = check_range("copy (destination)", dst, dst_offset, bytes);
    if (st == DT_OK) st = check_range("copy (source)", src, src_offset, bytes);
    if (st != DT_OK) return st;
    if (dst->dev != src->dev)
        return dt_error(DT_ERR_INVALID, "copy: source is on %s, destination on %s",
                        src->dev->info.spec, dst->dev->info.spec);
    if (dst == src && dst_offset < src_offset + bytes && src_offset < dst_offset + bytes)
        return dt_error(DT_ERR_INVALID, "copy: overlapping ranges in one buffer on %s",
                        dst->dev->info.spec);
    if (bytes == 0) return DT_OK;
    return dst->dev->ops->copy(dst, dst_offset, src, src_offset, bytes);
}

size_t dt_dtype_size(dt_dtype t) {
    (void)t;
    return 4; /* f32 and i32 */
}

const char *dt_dtype_name(dt_dtype t) {
    return t == DT_I32 ? "i32" : "f32";
}

dt_tensor dt_tensor_nd(dt_buffer *buf, size_t offset, dt_dtype t, int ndim, const int64_t *shape) {
    dt_tensor x;
    memset(&x, 0, sizeof x);
    x.buf = buf;
    x.offset = offset;
    x.dtype = t;
    x.ndim = ndim;
    for (int i = 0; i < ndim && i < DT_MAX_DIMS; i++) x.shape[i] = shape[i];
    return x;
}

dt_tensor dt_tensor_1d(dt_buffer *buf, size_t offset, dt_dtype t, int64_t n0) {
    return dt_tensor_nd(buf, offset, t, 1, (int64_t[]){n0});
}

dt_tensor dt_tensor_2d(dt_buffer *buf, size_t offset, dt_dtype t, int64_t n0, int64_t n1) {
    return dt_tensor_nd(buf, offset, t, 2, (int64_t[]){n0, n1});
}

dt_tensor dt_tensor_3d(dt_buffer *buf, size_t offset, dt_dtype t, int64_t n0, int64_t n1,
                       int64_t n2) {
    return dt_tensor_nd(buf, offset, t, 3, (int64_t[]){n0, n1, n2});
}

/* The dimensions a view really has: ndim outside 0..DT_MAX_DIMS would read
 * past shape[]. */
static int view_dims(const dt_tensor *t) {
    return t->ndim < 0 ? 0 : t->ndim > DT_MAX_DIMS ? DT_MAX_DIMS : t->ndim;
}

/* INT64_MAX when the product does not fit (and dt_tensor_bytes SIZE_MAX),
 * so that a view of absurd dimensions overruns every buffer instead of
 * wrapping to a small size that passes the bounds checks. */
int64_t dt_tensor_numel(const dt_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < view_dims(t); i++)
        if (__builtin_mul_overflow(n, t->shape[i], &n)) return INT64_MAX;
    return n;
}

size_t dt_tensor_bytes(const dt_tensor *t) {
    const int64_t n = dt_tensor_numel(t);
    size_t bytes;
    if (n < 0 || __builtin_mul_overflow((size_t)n, dt_dtype_size(t->dtype), &bytes))
        return SIZE_MAX;
    return bytes;
}

const char *dt_tensor_str(const dt_tensor *t, char *buf, size_t len) {
    size_t used = 0;
    int n = snprintf(buf, len, "[");
    used = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < view_dims(t) && used < len; i++) {
        n = snprintf(buf + used, len - used, i ? ", %lld" : "%lld", (long long)t->shape[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < len) snprintf(buf + used, len - used, "] %s", dt_dtype_name(t->dtype));
    return buf;
}

dt_status dt_tensor_alloc(dt_device *dev, dt_dtype t, int ndim, const int64_t *shape,
                          dt_tensor *out) {
    memset(out, 0, sizeof *out);
    if (ndim < 1 || ndim > DT_MAX_DIMS)
        return dt_error(DT_ERR_INVALID, "tensor_alloc: %d dimensions (1 to %d)", ndim, DT_MAX_DIMS);
    size_t bytes = dt_dtype_size(t);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return dt_error(DT_ERR_INVALID, "tensor_alloc: dimension %d is %lld", i,
                            (long long)shape[i]);
        if (__builtin_mul_overflow(bytes, (size_t)shape[i], &bytes))
            return dt_error(DT_ERR_OOM, "tensor_alloc: %d dimensions whose product overflows",
                            ndim);
    }
    dt_buffer *buf;
    dt_status st = dt_buffer_alloc(dev, bytes, &buf);
    if (st != DT_OK) return st;
    *out = dt_tensor_nd(buf, 0, t, ndim, shape);
    return DT_OK;
}

void dt_tensor_free(dt_tensor *t) {
    dt_buffer_free(t->buf);
    t->buf = NULL;
}
