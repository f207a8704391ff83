/* Device buffers: plain cl_mem objects. Uploads block so the caller may reuse
 * its host memory at once; downloads block, and the in-order queue makes them
 * wait for every op that writes the bytes they read. */
#include <stdlib.h>

#include "backends/opencl/opencl_backend.h"

dt_status ocl_buffer_alloc(dt_device *dev, size_t bytes, dt_buffer **out) {
    ocl_device *d = ocl_dev(dev);
    if (d->max_alloc_bytes && bytes > d->max_alloc_bytes)
        return dt_error(DT_ERR_OOM,
                        "buffer_alloc: %zu bytes exceed the largest single allocation of %s "
                        "(%s): %llu bytes",
                        bytes, dev->info.spec, dev->info.name,
                        (unsigned long long)d->max_alloc_bytes);
    ocl_buffer *b = calloc(1, sizeof *b);
    if (!b) return dt_error(DT_ERR_OOM, "buffer_alloc: cannot allocate a buffer handle");
    cl_int err;
    b->mem = clCreateBuffer(d->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (!b->mem) {
        free(b);
        /* Drivers return either code for an allocation they cannot hold. */
        if (err == CL_INVALID_BUFFER_SIZE) err = CL_MEM_OBJECT_ALLOCATION_FAILURE;
        return ocl_fail(d, "buffer_alloc", "clCreateBuffer", err);
    }
    *out = &b->base;
    return DT_OK;
}

void ocl_buffer_free(dt_buffer *buf) {
    ocl_buffer *b = (ocl_buffer *)buf;
    /* Ops already enqueued hold their own reference to the cl_mem, so the
     * memory lives until they finish. */
    clReleaseMemObject(b->mem);
    free(b);
}

dt_status ocl_upload(dt_buffer *dst, size_t offset, const void *src, size_t bytes) {
    ocl_device *d = ocl_dev(dst->dev);
    cl_int err = clEnqueueWriteBuffer(d->queue, ((ocl_buffer *)dst)->mem, CL_TRUE, offset, bytes,
                                      src, 0, NULL, NULL);
    return err == CL_SUCCESS ? DT_OK : ocl_fail(d, "upload", "clEnqueueWriteBuffer", err);
}

dt_status ocl_download(const dt_buffer *src, size_t offset, void *dst, size_t bytes) {
    ocl_device *d = ocl_dev(src->dev);
    cl_int err = clEnqueueReadBuffer(d->queue, ((const ocl_buffer *)src)->mem, CL_TRUE, offset,
                                     bytes, dst, 0, NULL, NULL);
    return err == CL_SUCCESS ? DT_OK : ocl_fail(d, "download", "clEnqueueReadBuffer", err);
}

dt_status ocl_copy(dt_buffer *dst, size_t dst_offset, const dt_buffer *src, size_t src_offset,
                   size_t bytes) {
    ocl_device *d = ocl_dev(dst->dev);
    cl_int err =
        clEnqueueCopyBuffer(d->queue, ((const ocl_buffer *)src)->mem, ((ocl_buffer *)dst)->mem,
                            src_offset, dst_offset, bytes, 0, NULL, NULL);
    return err == CL_SUCCESS ? DT_OK : ocl_fail(d, "copy", "clEnqueueCopyBuffer", err);
}
