/* Command batching, barriers, submission and waiting.
 *
 * A training step issues hundreds of small ops; one vkQueueSubmit and one
 * fence wait each would cost more than many of the ops themselves. So ops
 * are recorded into the current batch and the batch is submitted when
 * someone needs its results (sync, a download, freeing a buffer), when its
 * descriptor pool or staging room is full, or when it holds enough work
 * that the device should start on it. Two batches alternate: one records
 * while the other runs.
 *
 * Serials order everything: batch i gets serial i; `completed` is the
 * highest serial known to have finished; buffers remember which serial last
 * used them. */
#include <stdio.h>
#include <string.h>

#include "backends/vulkan/vulkan_backend.h"

/* Submit early once a batch holds this many ops, so the device is busy
 * while the host records the rest of the step. */
#define VK_SUBMIT_AFTER_OPS 96

const char *vk_result_name(VkResult r) {
    switch (r) {
    case VK_SUCCESS:
        return "VK_SUCCESS";
    case VK_NOT_READY:
        return "VK_NOT_READY";
    case VK_TIMEOUT:
        return "VK_TIMEOUT";
    case VK_INCOMPLETE:
        return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY:
        return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
        return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED:
        return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST:
        return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED:
        return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT:
        return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT:
        return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT:
        return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER:
        return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS:
        return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FRAGMENTED_POOL:
        return "VK_ERROR_FRAGMENTED_POOL";
    case VK_ERROR_OUT_OF_POOL_MEMORY:
        return "VK_ERROR_OUT_OF_POOL_MEMORY";
    case VK_ERROR_INVALID_SHADER_NV:
        return "VK_ERROR_INVALID_SHADER_NV";
    default:
        return "an unknown VkResult";
    }
}

dt_status vk_fail(vk_device *d, const char *op, const char *call, VkResult r) {
    dt_status st = DT_ERR_DEVICE;
    if (r == VK_ERROR_OUT_OF_HOST_MEMORY || r == VK_ERROR_OUT_OF_DEVICE_MEMORY ||
        r == VK_ERROR_OUT_OF_POOL_MEMORY)
        st = DT_ERR_OOM;
    dt_error(st, "%s: %s failed with %s on %s (%s)", op, call, vk_result_name(r), d->base.info.spec,
             d->base.info.name);
    if (r == VK_ERROR_DEVICE_LOST && !d->lost) {
        d->lost = true;
        snprintf(d->lost_reason, sizeof d->lost_reason, "the device was lost during %s (%s)", op,
                 call);
    }
    return st;
}

static dt_status lost_status(vk_device *d, const char *op) {
    if (!d->lost) return DT_OK;
    return dt_error(DT_ERR_DEVICE, "%s: %s (%s) is unusable: %s; close and reopen it", op,
                    d->base.info.spec, d->base.info.name, d->lost_reason);
}

/* Under validation=on, any error the layer reported fails every later op.
 * Waits still wait first (vk_wait): freeing a buffer must not skip the wait
 * for the work still using it. */
static dt_status validation_status(vk_device *d, const char *op) {
    if (!d->vi.validation_errors) return DT_OK;
    return dt_error(DT_ERR_DEVICE,
                    "%s: %s: the Khronos validation layer reported %d error(s); the first: %s", op,
                    d->base.info.spec, d->vi.validation_errors, d->vi.validation_first);
}

dt_status vk_check_alive(vk_device *d, const char *op) {
    dt_status st = lost_status(d, op);
    return st != DT_OK ? st : validation_status(d, op);
}

dt_status vk_batches_create(vk_device *d) {
    vk_fns *fn = d->fn;
    VkCommandPoolCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = d->queue_family,
    };
    VkResult r = fn->CreateCommandPool(d->device, &pci, NULL, &d->cmd_pool);
    if (r != VK_SUCCESS) return vk_fail(d, "open", "vkCreateCommandPool", r);
    VkDescriptorPoolSize size = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                 VK_BATCH_MAX_OPS * VK_MAX_BINDINGS};
    for (int i = 0; i < VK_BATCHES; i++) {
        vk_batch *b = &d->batches[i];
        VkCommandBufferAllocateInfo ai = {
            .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
            .commandPool = d->cmd_pool,
            .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
            .commandBufferCount = 1,
        };
        r = fn->AllocateCommandBuffers(d->device, &ai, &b->cmd);
        if (r != VK_SUCCESS) return vk_fail(d, "open", "vkAllocateCommandBuffers", r);
        VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        r = fn->CreateFence(d->device, &fci, NULL, &b->fence);
        if (r != VK_SUCCESS) return vk_fail(d, "open", "vkCreateFence", r);
        VkDescriptorPoolCreateInfo dpi = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
            .maxSets = VK_BATCH_MAX_OPS,
            .poolSizeCount = 1,
            .pPoolSizes = &size,
        };
        r = fn->CreateDescriptorPool(d->device, &dpi, NULL, &b->pool);
        if (r != VK_SUCCESS) return vk_fail(d, "open", "vkCreateDescriptorPool", r);
        dt_status st = vk_buffer_create(d, VK_STAGING_BYTES, VK_MEM_UPLOAD, "open", &b->staging);
        if (st != DT_OK) return st;
    }
    d->next_serial = 1;
    d->completed = 0;
    return DT_OK;
}

void vk_batches_destroy(vk_device *d) {
    vk_fns *fn = d->fn;
    for (int i = 0; i < VK_BATCHES; i++) {
        vk_batch *b = &d->batches[i];
        if (b->staging) vk_buffer_destroy(d, b->staging);
        if (b->pool) fn->DestroyDescriptorPool(d->device, b->pool, NULL);
        if (b->fence) fn->DestroyFence(d->device, b->fence, NULL);
    }
    if (d->cmd_pool) fn->DestroyCommandPool(d->device, d->cmd_pool, NULL);
}

/* Wait for one submitted batch and make it reusable. */
static dt_status retire(vk_device *d, vk_batch *b, const char *op) {
    if (!b->submitted) return DT_OK;
    VkResult r = d->fn->WaitForFences(d->device, 1, &b->fence, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS) {
        char call[96];
        snprintf(call, sizeof call, "waiting for a batch of %d ops ending with %s", b->n_ops,
                 b->last_op ? b->last_op : "a transfer");
        return vk_fail(d, op, call, r);
    }
    d->fn->ResetFences(d->device, 1, &b->fence);
    b->submitted = false;
    if (b->serial > d->completed) d->completed = b->serial;
    return DT_OK;
}

/* A barrier between everything before and everything after, for compute
 * shaders and transfers alike; `to_host` also makes writes host-visible. */
static void full_barrier(vk_device *d, VkCommandBuffer cmd, bool to_host) {
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = to_host ? VK_ACCESS_HOST_READ_BIT
                                 : VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                       VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    VkPipelineStageFlags stages =
        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    d->fn->CmdPipelineBarrier(cmd, stages, to_host ? VK_PIPELINE_STAGE_HOST_BIT : stages, 0, 1, &mb,
                              0, NULL, 0, NULL);
}

dt_status vk_record(vk_device *d, const char *op, vk_batch **out) {
    dt_status st = vk_check_alive(d, op);
    if (st != DT_OK) return st;
    vk_batch *b = &d->batches[d->current];
    if (!b->recording) {
        st = retire(d, b, op);
        if (st != DT_OK) return st;
        d->fn->ResetDescriptorPool(d->device, b->pool, 0);
        VkCommandBufferBeginInfo bi = {
            .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
            .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
        };
        VkResult r = d->fn->BeginCommandBuffer(b->cmd, &bi);
        if (r != VK_SUCCESS) return vk_fail(d, op, "vkBeginCommandBuffer", r);
        b->serial = d->next_serial++;
        b->n_ops = 0;
        b->staging_used = 0;
        b->last_op = NULL;
        b->recording = true;
    }
    *out = b;
    return DT_OK;
}

static bool listed(const VkBuffer *list, int n, VkBuffer buf) {
    for (int i = 0; i < n; i++)
        if (list[i] == buf) return true;
    return false;
}

void vk_hazard(vk_device *d, vk_batch *b, const vk_access *acc, int n) {
    /* Read-after-write, write-after-write and write-after-read against the
     * work since the last barrier; pipeline barriers also order against
     * earlier batches on the queue, so the sets carry across submissions. */
    bool need = false;
    for (int i = 0; i < n && !need; i++) {
        VkBuffer buf = acc[i].buf->buffer;
        need = listed(d->hz_write, d->n_hz_write, buf) ||
               (acc[i].write && listed(d->hz_read, d->n_hz_read, buf));
    }
    if (need || d->n_hz_read + n > 32 || d->n_hz_write + n > 32) {
        full_barrier(d, b->cmd, false);
        d->n_hz_read = d->n_hz_write = 0;
    }
    for (int i = 0; i < n; i++) {
        vk_buffer *vb = acc[i].buf;
        if (acc[i].write) {
            if (!listed(d->hz_write, d->n_hz_write, vb->buffer))
                d->hz_write[d->n_hz_write++] = vb->buffer;
            vb->last_write = b->serial;
        } else if (!listed(d->hz_read, d->n_hz_read, vb->buffer)) {
            d->hz_read[d->n_hz_read++] = vb->buffer;
        }
        vb->last_use = b->serial;
    }
}

dt_status vk_op_done(vk_device *d, vk_batch *b, const char *op) {
    b->n_ops++;
    b->last_op = op;
    if (b->n_ops >= VK_SUBMIT_AFTER_OPS) return vk_submit(d, op);
    return DT_OK;
}

dt_status vk_submit(vk_device *d, const char *op) {
    vk_batch *b = &d->batches[d->current];
    if (!b->recording) return DT_OK;
    full_barrier(d, b->cmd, true);
    VkResult r = d->fn->EndCommandBuffer(b->cmd);
    b->recording = false;
    if (r != VK_SUCCESS) return vk_fail(d, op, "vkEndCommandBuffer", r);
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &b->cmd,
    };
    r = d->fn->QueueSubmit(d->queue, 1, &si, b->fence);
    if (r != VK_SUCCESS) {
        /* Nothing of this batch will run; count it done so waits end. */
        if (b->serial > d->completed) d->completed = b->serial;
        return vk_fail(d, op, "vkQueueSubmit", r);
    }
    b->submitted = true;
    d->current = (d->current + 1) % VK_BATCHES;
    return DT_OK;
}

void vk_poll(vk_device *d) {
    for (int i = 0; i < VK_BATCHES; i++) {
        vk_batch *b = &d->batches[i];
        if (b->submitted && d->fn->GetFenceStatus(d->device, b->fence) == VK_SUCCESS &&
            b->serial > d->completed) {
            /* Only in-order completion may advance `completed`. */
            bool earlier_pending = false;
            for (int j = 0; j < VK_BATCHES; j++)
                earlier_pending |=
                    j != i && d->batches[j].submitted && d->batches[j].serial < b->serial &&
                    d->fn->GetFenceStatus(d->device, d->batches[j].fence) != VK_SUCCESS;
            if (!earlier_pending) d->completed = b->serial;
        }
    }
}

dt_status vk_wait(vk_device *d, uint64_t serial, const char *op) {
    if (serial <= d->completed) return validation_status(d, op);
    dt_status st = lost_status(d, op);
    if (st != DT_OK) return st;
    vk_batch *cur = &d->batches[d->current];
    if (cur->recording && cur->serial <= serial) {
        st = vk_submit(d, op);
        if (st != DT_OK) return st;
    }
    for (int i = 0; i < VK_BATCHES; i++) {
        vk_batch *b = &d->batches[i];
        if (b->submitted && b->serial <= serial) {
            st = retire(d, b, op);
            if (st != DT_OK) return st;
        }
    }
    if (serial > d->completed) d->completed = serial;
    return validation_status(d, op);
}

dt_status vk_op_sync(dt_device *dev) {
    vk_device *d = vk_dev(dev);
    return vk_wait(d, d->next_serial - 1, "sync");
}
