/* Buffers and host transfers.
 *
 * On a discrete GPU, buffers live in device-local memory and every upload
 * or download passes through host-visible staging: uploads are copied into
 * the recording batch's staging room and recorded as a transfer, so they
 * stay ordered with the ops around them and return at once; downloads copy
 * into a readback buffer and wait. Where device memory is host-visible and
 * coherent on a device that shares the host's memory (lavapipe, integrated
 * GPUs), buffers are mapped once and transfers are memcpy, after waiting
 * for exactly the batches that use the bytes. DISTRO_VULKAN_STAGING=1
 * forces the staging path everywhere, to test it on such devices. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vulkan_backend.h"

/* Smallest staging piece worth recording rather than starting a new batch. */
#define VK_MIN_STAGING_PIECE ((size_t)64 << 10)

int vk_memory_type(const VkPhysicalDeviceMemoryProperties *mp, uint32_t allowed,
                   VkMemoryPropertyFlags need, VkMemoryPropertyFlags avoid) {
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp->memoryTypes[i].propertyFlags;
        if ((allowed & (1u << i)) && (f & need) == need && !(f & avoid)) return (int)i;
    }
    return -1;
}

static int find_type(const vk_device *d, uint32_t allowed, VkMemoryPropertyFlags need,
                     VkMemoryPropertyFlags avoid) {
    return vk_memory_type(&d->mem_props, allowed, need, avoid);
}

dt_status vk_select_memory_types(vk_device *d, bool staging) {
    const VkMemoryPropertyFlags visible =
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    bool shares_host_memory =
        d->base.info.type == DT_DEVICE_CPU || d->base.info.type == DT_DEVICE_GPU_INTEGRATED;
    int t = -1;
    d->unified = false;
    if (shares_host_memory && !staging) {
        t = find_type(d, ~0u, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | visible, 0);
        d->unified = t >= 0;
    }
    if (t < 0) t = find_type(d, ~0u, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
    if (t < 0) t = 0;
    d->type_device = (uint32_t)t;
    /* Staging in system memory rather than a small device-local window. */
    int up = find_type(d, ~0u, visible, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (up < 0) up = find_type(d, ~0u, visible, 0);
    int down = find_type(d, ~0u, visible | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
    if (down < 0) down = up;
    if (up < 0)
        return dt_error(DT_ERR_UNSUPPORTED, "open: %s (%s) has no host-visible coherent memory",
                        d->base.info.spec, d->base.info.name);
    d->type_upload = (uint32_t)up;
    d->type_readback = (uint32_t)down;
    return DT_OK;
}

dt_status vk_buffer_create(vk_device *d, size_t bytes, vk_memory_kind kind, const char *op,
                           vk_buffer **out) {
    *out = NULL;
    if (d->max_allocation && bytes > d->max_allocation)
        return dt_error(DT_ERR_OOM,
                        "%s: %zu bytes exceed the largest single allocation of %s "
                        "(%s), %llu bytes",
                        op, bytes, d->base.info.spec, d->base.info.name,
                        (unsigned long long)d->max_allocation);
    vk_buffer *b = calloc(1, sizeof *b);
    if (!b) return dt_error(DT_ERR_OOM, "%s: no host memory for a buffer record", op);
    /* Round up so fills and whole-word shader accesses never fall off. */
    b->alloc_size = (bytes + 15) / 16 * 16;
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = b->alloc_size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                 VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = d->fn->CreateBuffer(d->device, &bi, NULL, &b->buffer);
    if (r != VK_SUCCESS) {
        free(b);
        return vk_fail(d, op, "vkCreateBuffer", r);
    }
    VkMemoryRequirements req;
    d->fn->GetBufferMemoryRequirements(d->device, b->buffer, &req);
    uint32_t want = kind == VK_MEM_UPLOAD     ? d->type_upload
                    : kind == VK_MEM_READBACK ? d->type_readback
                                              : d->type_device;
    int type = (req.memoryTypeBits & (1u << want)) ? (int)want : -1;
    if (type < 0) {
        VkMemoryPropertyFlags need =
            d->mem_props.memoryTypes[want].propertyFlags &
            (VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
        type = find_type(d, req.memoryTypeBits, need, 0);
    }
    if (type < 0) {
        d->fn->DestroyBuffer(d->device, b->buffer, NULL);
        free(b);
        return dt_error(DT_ERR_UNSUPPORTED, "%s: no memory type fits a buffer on %s", op,
                        d->base.info.spec);
    }
    VkMemoryAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = (uint32_t)type,
    };
    r = d->fn->AllocateMemory(d->device, &ai, NULL, &b->memory);
    if (r == VK_SUCCESS) r = d->fn->BindBufferMemory(d->device, b->buffer, b->memory, 0);
    bool host_visible =
        d->mem_props.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
    bool map = kind != VK_MEM_DEVICE || (d->unified && host_visible);
    if (r == VK_SUCCESS && map)
        r = d->fn->MapMemory(d->device, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped);
    if (r != VK_SUCCESS) {
        char call[96];
        snprintf(call, sizeof call, "allocating %zu bytes (vkAllocateMemory/vkMapMemory)", bytes);
        dt_status st = vk_fail(d, op, call, r);
        if (b->memory) d->fn->FreeMemory(d->device, b->memory, NULL);
        d->fn->DestroyBuffer(d->device, b->buffer, NULL);
        free(b);
        return st;
    }
    *out = b;
    return DT_OK;
}

void vk_buffer_destroy(vk_device *d, vk_buffer *b) {
    if (!b) return;
    if (b->mapped) d->fn->UnmapMemory(d->device, b->memory);
    d->fn->DestroyBuffer(d->device, b->buffer, NULL);
    d->fn->FreeMemory(d->device, b->memory, NULL);
    free(b);
}

dt_status vk_workspace(vk_device *d, size_t bytes, const char *op, vk_buffer **out) {
    if (d->workspace && d->workspace->alloc_size >= bytes) {
        *out = d->workspace;
        return DT_OK;
    }
    /* Growing is rare (the first step of a bigger shape): wait for the old
     * one's users, then replace it. */
    if (d->workspace) {
        dt_status st = vk_wait(d, d->workspace->last_use, op);
        if (st != DT_OK) return st;
        vk_buffer_destroy(d, d->workspace);
        d->workspace = NULL;
    }
    size_t want = (bytes + ((size_t)1 << 20) - 1) >> 20 << 20;
    dt_status st = vk_buffer_create(d, want, VK_MEM_DEVICE, op, &d->workspace);
    *out = d->workspace;
    return st;
}

dt_status vk_op_buffer_alloc(dt_device *dev, size_t bytes, dt_buffer **out) {
    vk_device *d = vk_dev(dev);
    dt_status st = vk_check_alive(d, "buffer_alloc");
    if (st != DT_OK) return st;
    vk_buffer *b;
    st = vk_buffer_create(d, bytes, VK_MEM_DEVICE, "buffer_alloc", &b);
    if (st != DT_OK) return st;
    *out = &b->base;
    return DT_OK;
}

void vk_op_buffer_free(dt_buffer *buf) {
    vk_buffer *b = vk_buf(buf);
    vk_device *d = vk_dev(buf->dev);
    /* Work still using the buffer must finish first; on a lost device
     * nothing runs any more and the wait reports that instead. */
    vk_wait(d, b->last_use, "buffer_free");
    vk_buffer_destroy(d, b);
}

/* Record host bytes as a transfer through the batches' staging room. */
static dt_status staged_upload(vk_device *d, vk_buffer *dst, size_t offset, const char *src,
                               size_t bytes) {
    while (bytes) {
        vk_batch *b;
        dt_status st = vk_record(d, "upload", &b);
        if (st != DT_OK) return st;
        size_t room = VK_STAGING_BYTES - b->staging_used;
        size_t piece = bytes < room ? bytes : room;
        if (piece < bytes && piece < VK_MIN_STAGING_PIECE) {
            st = vk_submit(d, "upload");
            if (st != DT_OK) return st;
            continue;
        }
        memcpy((char *)b->staging->mapped + b->staging_used, src, piece);
        vk_access acc = {dst, true};
        vk_hazard(d, b, &acc, 1);
        VkBufferCopy region = {b->staging_used, offset, piece};
        d->fn->CmdCopyBuffer(b->cmd, b->staging->buffer, dst->buffer, 1, &region);
        b->staging_used = (b->staging_used + piece + 15) / 16 * 16;
        st = vk_op_done(d, b, "upload");
        if (st != DT_OK) return st;
        src += piece;
        offset += piece;
        bytes -= piece;
    }
    return DT_OK;
}

dt_status vk_op_upload(dt_buffer *dst, size_t offset, const void *src, size_t bytes) {
    vk_buffer *b = vk_buf(dst);
    vk_device *d = vk_dev(dst->dev);
    dt_status st = vk_check_alive(d, "upload");
    if (st != DT_OK) return st;
    if (!b->mapped) return staged_upload(d, b, offset, src, bytes);
    if (b->last_use > d->completed) vk_poll(d);
    if (b->last_use > d->completed) {
        /* Busy: small uploads queue behind the work; large ones wait for it. */
        const vk_batch *cur = &d->batches[d->current];
        size_t room = cur->recording ? VK_STAGING_BYTES - cur->staging_used : VK_STAGING_BYTES;
        if (bytes <= room) return staged_upload(d, b, offset, src, bytes);
        st = vk_wait(d, b->last_use, "upload");
        if (st != DT_OK) return st;
    }
    memcpy((char *)b->mapped + offset, src, bytes);
    return DT_OK;
}

dt_status vk_op_download(const dt_buffer *src, size_t offset, void *dst, size_t bytes) {
    vk_buffer *b = vk_buf(src);
    vk_device *d = vk_dev(src->dev);
    dt_status st = vk_check_alive(d, "download");
    if (st != DT_OK) return st;
    if (b->mapped) {
        st = vk_wait(d, b->last_write, "download");
        if (st == DT_OK) memcpy(dst, (const char *)b->mapped + offset, bytes);
        return st;
    }
    if (!d->readback) {
        st = vk_buffer_create(d, VK_STAGING_BYTES, VK_MEM_READBACK, "download", &d->readback);
        if (st != DT_OK) return st;
    }
    char *out = dst;
    while (bytes) {
        size_t piece = bytes < VK_STAGING_BYTES ? bytes : VK_STAGING_BYTES;
        vk_batch *bt;
        st = vk_record(d, "download", &bt);
        if (st != DT_OK) return st;
        vk_access acc = {b, false};
        vk_hazard(d, bt, &acc, 1);
        VkBufferCopy region = {offset, 0, piece};
        d->fn->CmdCopyBuffer(bt->cmd, b->buffer, d->readback->buffer, 1, &region);
        bt->n_ops++;
        bt->last_op = "download";
        uint64_t serial = bt->serial;
        st = vk_wait(d, serial, "download");
        if (st != DT_OK) return st;
        memcpy(out, d->readback->mapped, piece);
        out += piece;
        offset += piece;
        bytes -= piece;
    }
    return DT_OK;
}

dt_status vk_op_copy(dt_buffer *dst, size_t dst_offset, const dt_buffer *src, size_t src_offset,
                     size_t bytes) {
    vk_device *d = vk_dev(dst->dev);
    vk_profile_begin(d);
    vk_batch *b;
    dt_status st = vk_record(d, "copy", &b);
    if (st != DT_OK) return st;
    vk_access acc[2] = {{vk_buf(src), false}, {vk_buf(dst), true}};
    vk_hazard(d, b, acc, 2);
    VkBufferCopy region = {src_offset, dst_offset, bytes};
    d->fn->CmdCopyBuffer(b->cmd, vk_buf(src)->buffer, vk_buf(dst)->buffer, 1, &region);
    st = vk_op_done(d, b, "copy");
    return st == DT_OK ? vk_profile_end(d, "copy") : st;
}

dt_status vk_fill(vk_device *d, const char *op, vk_buffer *buf, size_t offset, size_t bytes,
                  uint32_t bits) {
    vk_profile_begin(d);
    vk_batch *b;
    dt_status st = vk_record(d, op, &b);
    if (st != DT_OK) return st;
    vk_access acc = {buf, true};
    vk_hazard(d, b, &acc, 1);
    d->fn->CmdFillBuffer(b->cmd, buf->buffer, offset, bytes, bits);
    st = vk_op_done(d, b, op);
    return st == DT_OK ? vk_profile_end(d, "fill") : st;
}

dt_status vk_op_fill(dt_device *dev, const dt_tensor *y, float value, int64_t n) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    return vk_fill(vk_dev(dev), "fill", vk_buf(y->buf), y->offset, (size_t)n * 4, bits);
}
