/* Shaders, pipelines and dispatches.
 *
 * Every shader binds N storage buffers (set 0, bindings 0..N-1) and takes
 * 128 bytes of push constants that begin with N uints: the element offset
 * of each view inside its binding. Binding at an aligned base below the
 * view and passing the rest as a number means a view at any 4-byte offset
 * works without minStorageBufferOffsetAlignment getting in the way.
 *
 * Pipelines are created on first use, one per (shader, specialisation
 * constants), and kept for the device's lifetime. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/vulkan_backend.h"

#define VK_SHADER_EXTERN(name, bindings)                                                           \
    extern const unsigned char vk_spv_##name[];                                                    \
    extern const unsigned long vk_spv_##name##_size;
VK_SHADERS(VK_SHADER_EXTERN)
#undef VK_SHADER_EXTERN

typedef struct shader_desc {
    const char *name;
    const unsigned char *spv;
    const unsigned long *size;
    int bindings;
} shader_desc;

#define VK_SHADER_DESC(name, bindings) {#name, vk_spv_##name, &vk_spv_##name##_size, bindings},
static const shader_desc shaders[VK_SH_COUNT] = {VK_SHADERS(VK_SHADER_DESC)};
#undef VK_SHADER_DESC

uint64_t vk_shader_hash(uint64_t h, vk_shader_id shader) {
    return dt_hash64(h, shaders[shader].spv, (size_t)*shaders[shader].size);
}

const char *vk_shader_name(vk_shader_id shader) {
    return shaders[shader].name;
}

dt_status vk_layouts_create(vk_device *d) {
    VkDescriptorSetLayoutBinding binding[VK_MAX_BINDINGS];
    for (int i = 0; i < VK_MAX_BINDINGS; i++)
        binding[i] = (VkDescriptorSetLayoutBinding){
            .binding = (uint32_t)i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    VkPushConstantRange push = {VK_SHADER_STAGE_COMPUTE_BIT, 0, VK_PUSH_BYTES};
    for (int n = 1; n <= VK_MAX_BINDINGS; n++) {
        VkDescriptorSetLayoutCreateInfo li = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
            .bindingCount = (uint32_t)n,
            .pBindings = binding,
        };
        VkResult r = d->fn->CreateDescriptorSetLayout(d->device, &li, NULL, &d->set_layouts[n]);
        if (r != VK_SUCCESS) return vk_fail(d, "open", "vkCreateDescriptorSetLayout", r);
        VkPipelineLayoutCreateInfo pi = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
            .setLayoutCount = 1,
            .pSetLayouts = &d->set_layouts[n],
            .pushConstantRangeCount = 1,
            .pPushConstantRanges = &push,
        };
        r = d->fn->CreatePipelineLayout(d->device, &pi, NULL, &d->pipe_layouts[n]);
        if (r != VK_SUCCESS) return vk_fail(d, "open", "vkCreatePipelineLayout", r);
    }
    return DT_OK;
}

void vk_pipelines_destroy(vk_device *d) {
    for (int i = 0; i < d->n_pipelines; i++)
        d->fn->DestroyPipeline(d->device, d->pipelines[i].pipeline, NULL);
    d->n_pipelines = 0;
    for (int n = 1; n <= VK_MAX_BINDINGS; n++) {
        if (d->pipe_layouts[n]) d->fn->DestroyPipelineLayout(d->device, d->pipe_layouts[n], NULL);
        if (d->set_layouts[n])
            d->fn->DestroyDescriptorSetLayout(d->device, d->set_layouts[n], NULL);
    }
}

dt_status vk_pipeline_create(vk_device *d, const char *op, vk_shader_id id, const uint32_t *spec,
                             int n_spec, VkPipelineCreateFlags flags, VkPipeline *out) {
    const shader_desc *sd = &shaders[id];
    /* The embedded bytes carry no alignment guarantee; SPIR-V is read as
     * uint32 words, so copy it once into an aligned block. */
    size_t bytes = (size_t)*sd->size;
    uint32_t *code = malloc(bytes + 4);
    if (!code) return dt_error(DT_ERR_OOM, "%s: no host memory for shader %s", op, sd->name);
    memcpy(code, sd->spv, bytes);
    VkShaderModuleCreateInfo mi = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = bytes,
        .pCode = code,
    };
    VkShaderModule module;
    VkResult r = d->fn->CreateShaderModule(d->device, &mi, NULL, &module);
    free(code);
    if (r != VK_SUCCESS) return vk_fail(d, op, "vkCreateShaderModule", r);

    VkSpecializationMapEntry entries[VK_MAX_SPEC];
    for (int i = 0; i < n_spec; i++)
        entries[i] = (VkSpecializationMapEntry){(uint32_t)i, (uint32_t)(i * 4), 4};
    VkSpecializationInfo si = {
        .mapEntryCount = (uint32_t)n_spec,
        .pMapEntries = entries,
        .dataSize = (size_t)n_spec * 4,
        .pData = spec,
    };
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .flags = flags,
        .stage =
            {
                .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = module,
                .pName = "main",
                .pSpecializationInfo = n_spec ? &si : NULL,
            },
        .layout = d->pipe_layouts[sd->bindings],
    };
    r = d->fn->CreateComputePipelines(d->device, VK_NULL_HANDLE, 1, &ci, NULL, out);
    d->fn->DestroyShaderModule(d->device, module, NULL);
    if (r != VK_SUCCESS) {
        char call[96];
        snprintf(call, sizeof call, "vkCreateComputePipelines (shader %s)", sd->name);
        dt_status st = vk_fail(d, op, call, r);
        return st == DT_ERR_OOM ? st : DT_ERR_BUILD;
    }
    return DT_OK;
}

static dt_status get_pipeline(vk_device *d, const char *op, vk_shader_id id, const uint32_t *spec,
                              int n_spec, VkPipeline *out) {
    for (int i = 0; i < d->n_pipelines; i++) {
        vk_pipeline *p = &d->pipelines[i];
        if (p->shader == id && p->n_spec == n_spec &&
            (n_spec == 0 || memcmp(p->spec, spec, (size_t)n_spec * 4) == 0)) {
            *out = p->pipeline;
            return DT_OK;
        }
    }
    if (d->n_pipelines == VK_MAX_PIPELINES)
        return dt_error(DT_ERR_UNSUPPORTED, "%s: more than %d pipeline variants on %s", op,
                        VK_MAX_PIPELINES, d->base.info.spec);
    dt_status st = vk_pipeline_create(d, op, id, spec, n_spec, 0, out);
    if (st != DT_OK) return st;
    vk_pipeline *p = &d->pipelines[d->n_pipelines++];
    p->shader = id;
    p->n_spec = n_spec;
    if (n_spec) memcpy(p->spec, spec, (size_t)n_spec * 4);
    p->pipeline = *out;
    return DT_OK;
}

uint32_t vk_groups(int64_t n, int64_t per_group) {
    int64_t g = (n + per_group - 1) / per_group;
    if (g < 1) g = 1;
    return g > 65535 ? 65535u : (uint32_t)g;
}

dt_status vk_dispatch(vk_device *d, const char *op, vk_shader_id shader, const uint32_t *spec,
                      int n_spec, const vk_arg *args, int n_args, const void *params,
                      size_t params_bytes, uint32_t gx, uint32_t gy, uint32_t gz) {
    if (n_args != shaders[shader].bindings || n_spec > VK_MAX_SPEC ||
        (size_t)n_args * 4 + params_bytes > VK_PUSH_BYTES)
        return dt_error(DT_ERR_INVALID,
                        "%s: internal error: shader %s called with %d bindings, "
                        "%d constants and %zu bytes of parameters",
                        op, shaders[shader].name, n_args, n_spec, params_bytes);
    vk_profile_begin(d);
    VkPipeline pipeline;
    dt_status st = get_pipeline(d, op, shader, spec, n_spec, &pipeline);
    if (st != DT_OK) return st;

    /* Descriptor ranges: from an aligned base below each view to the end
     * of the buffer, clamped to what one binding may span. */
    uint32_t push[VK_PUSH_BYTES / 4];
    VkDescriptorBufferInfo infos[VK_MAX_BINDINGS];
    vk_access acc[VK_MAX_BINDINGS];
    const size_t align = (size_t)d->limits.minStorageBufferOffsetAlignment;
    const size_t max_range = (size_t)d->limits.maxStorageBufferRange;
    for (int i = 0; i < n_args; i++) {
        const vk_arg *a = &args[i];
        size_t base = a->offset / align * align;
        size_t range = a->buf->alloc_size - base;
        if (range > max_range) range = max_range / 4 * 4;
        if (a->offset - base + a->bytes > range)
            return dt_error(DT_ERR_UNSUPPORTED,
                            "%s: a view of %zu bytes at offset %zu exceeds "
                            "the %zu bytes one storage binding may span on %s",
                            op, a->bytes, a->offset, max_range, d->base.info.spec);
        infos[i] = (VkDescriptorBufferInfo){a->buf->buffer, base, range};
        push[i] = (uint32_t)((a->offset - base) / 4);
        acc[i] = (vk_access){(vk_buffer *)a->buf, a->write};
    }
    if (params_bytes) memcpy(push + n_args, params, params_bytes);

    vk_batch *b;
    st = vk_record(d, op, &b);
    if (st != DT_OK) return st;
    if (b->n_ops >= VK_BATCH_MAX_OPS) {
        st = vk_submit(d, op);
        if (st == DT_OK) st = vk_record(d, op, &b);
        if (st != DT_OK) return st;
    }
    VkDescriptorSetAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = b->pool,
        .descriptorSetCount = 1,
        .pSetLayouts = &d->set_layouts[n_args],
    };
    VkDescriptorSet set;
    VkResult r = d->fn->AllocateDescriptorSets(d->device, &ai, &set);
    if (r != VK_SUCCESS) return vk_fail(d, op, "vkAllocateDescriptorSets", r);
    VkWriteDescriptorSet writes[VK_MAX_BINDINGS];
    for (int i = 0; i < n_args; i++)
        writes[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set,
            .dstBinding = (uint32_t)i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &infos[i],
        };
    d->fn->UpdateDescriptorSets(d->device, (uint32_t)n_args, writes, 0, NULL);

    vk_hazard(d, b, acc, n_args);
    VkPipelineLayout layout = d->pipe_layouts[n_args];
    d->fn->CmdBindPipeline(b->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    d->fn->CmdBindDescriptorSets(b->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, &set, 0,
                                 NULL);
    d->fn->CmdPushConstants(b->cmd, layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                            (uint32_t)(n_args * 4 + params_bytes), push);
    d->fn->CmdDispatch(b->cmd, gx, gy, gz);
    st = vk_op_done(d, b, op);
    return st == DT_OK ? vk_profile_end(d, shaders[shader].name) : st;
}
