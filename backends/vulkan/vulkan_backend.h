/* The Vulkan backend's private interface.
 *
 * The loader (libvulkan.so.1) is opened at run time, not linked, so a
 * binary built with Vulkan still starts on a machine without it and says
 * why there is no Vulkan device instead of failing to load.
 *
 * Work is recorded into command buffers ("batches") and submitted on sync,
 * on a download that needs it, or when a batch is full; two batches
 * alternate so the host records one while the device runs the other. Every
 * buffer remembers the serial of the last batch that read or wrote it, which
 * is all that uploads, downloads and frees need to wait for the right work.
 * Between dispatches, barriers are emitted only where a dispatch touches a
 * buffer that earlier unsynchronised work wrote (or writes one it read). */
#ifndef DISTRO_VULKAN_BACKEND_H
#define DISTRO_VULKAN_BACKEND_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include "runtime/backend.h"

/* ---- function tables (vulkan_loader.c) ------------------------------------ */

#define VK_GLOBAL_FUNCS(X)                                                                         \
    X(CreateInstance)                                                                              \
    X(EnumerateInstanceLayerProperties)                                                            \
    X(EnumerateInstanceExtensionProperties)

#define VK_INSTANCE_FUNCS(X)                                                                       \
    X(DestroyInstance)                                                                             \
    X(EnumeratePhysicalDevices)                                                                    \
    X(GetPhysicalDeviceProperties)                                                                 \
    X(GetPhysicalDeviceProperties2)                                                                \
    X(GetPhysicalDeviceFeatures)                                                                   \
    X(GetPhysicalDeviceFeatures2)                                                                  \
    X(GetPhysicalDeviceMemoryProperties)                                                           \
    X(GetPhysicalDeviceQueueFamilyProperties)                                                      \
    X(EnumerateDeviceExtensionProperties)                                                          \
    X(CreateDevice)                                                                                \
    X(GetDeviceProcAddr)

#define VK_DEVICE_FUNCS(X)                                                                         \
    X(DestroyDevice)                                                                               \
    X(GetDeviceQueue)                                                                              \
    X(DeviceWaitIdle)                                                                              \
    X(QueueSubmit)                                                                                 \
    X(CreateBuffer)                                                                                \
    X(DestroyBuffer)                                                                               \
    X(GetBufferMemoryRequirements)                                                                 \
    X(AllocateMemory)                                                                              \
    X(FreeMemory)                                                                                  \
    X(BindBufferMemory)                                                                            \
    X(MapMemory)                                                                                   \
    X(UnmapMemory)                                                                                 \
    X(CreateCommandPool)                                                                           \
    X(DestroyCommandPool)                                                                          \
    X(AllocateCommandBuffers)                                                                      \
    X(BeginCommandBuffer)                                                                          \
    X(EndCommandBuffer)                                                                            \
    X(ResetCommandBuffer)                                                                          \
    X(CreateFence)                                                                                 \
    X(DestroyFence)                                                                                \
    X(ResetFences)                                                                                 \
    X(WaitForFences)                                                                               \
    X(GetFenceStatus)                                                                              \
    X(CreateDescriptorSetLayout)                                                                   \
    X(DestroyDescriptorSetLayout)                                                                  \
    X(CreateDescriptorPool)                                                                        \
    X(DestroyDescriptorPool)                                                                       \
    X(ResetDescriptorPool)                                                                         \
    X(AllocateDescriptorSets)                                                                      \
    X(UpdateDescriptorSets)                                                                        \
    X(CreatePipelineLayout)                                                                        \
    X(DestroyPipelineLayout)                                                                       \
    X(CreateShaderModule)                                                                          \
    X(DestroyShaderModule)                                                                         \
    X(CreateComputePipelines)                                                                      \
    X(DestroyPipeline)                                                                             \
    X(CmdBindPipeline)                                                                             \
    X(CmdBindDescriptorSets)                                                                       \
    X(CmdPushConstants)                                                                            \
    X(CmdDispatch)                                                                                 \
    X(CmdPipelineBarrier)                                                                          \
    X(CmdCopyBuffer)                                                                               \
    X(CmdFillBuffer)

#define VK_FN_MEMBER(name) PFN_vk##name name;

typedef struct vk_fns {
    PFN_vkGetInstanceProcAddr GetInstanceProcAddr;
    PFN_vkEnumerateInstanceVersion EnumerateInstanceVersion; /* NULL on a 1.0 loader */
    VK_GLOBAL_FUNCS(VK_FN_MEMBER)
    VK_INSTANCE_FUNCS(VK_FN_MEMBER)
    PFN_vkCreateDebugUtilsMessengerEXT CreateDebugUtilsMessengerEXT;   /* validation only */
    PFN_vkDestroyDebugUtilsMessengerEXT DestroyDebugUtilsMessengerEXT; /* validation only */
    VK_DEVICE_FUNCS(VK_FN_MEMBER)
} vk_fns;

/* dlopen the loader and fill the global entry points; *lib gets the handle.
 * On failure, a reason in `why` and DT_ERR_UNAVAILABLE. */
dt_status vk_loader_open(void **lib, vk_fns *fn, char *why, size_t why_len);
void vk_loader_close(void *lib);
/* Entry points of an instance / a device. Fails naming the missing one. */
dt_status vk_loader_instance_funcs(vk_fns *fn, VkInstance instance);
dt_status vk_loader_device_funcs(vk_fns *fn, VkDevice device);

/* ---- instances and device discovery (vulkan_instance.c) -------------------- */

typedef struct vk_instance {
    void *lib;
    vk_fns fn;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    bool validation;       /* the Khronos validation layer is on */
    int validation_errors; /* error messages it sent; any fails the device's next op */
    char validation_first[384];
} vk_instance;

/* Open the loader and create an instance; `validation` asks for the Khronos
 * layer with synchronization validation (the device option validation=on).
 * Without loader, driver, usable device or (when asked for) the layer, the
 * reason goes to `why` and the status is DT_ERR_UNAVAILABLE. The instance
 * must not move while it exists: the layer reports into it. */
dt_status vk_instance_create(vk_instance *vi, bool validation, char *why, size_t why_len);
void vk_instance_destroy(vk_instance *vi);

/* Physical devices this backend can use (Vulkan 1.1, a compute queue,
 * host-visible coherent memory), in the loader's order; index N of this list
 * is "vulkan:N". */
#define VK_MAX_PHYSICAL 16
dt_status vk_usable_devices(vk_instance *vi, VkPhysicalDevice *out, int *count, char *why,
                            size_t why_len);
/* Everything dt_device_info holds about one physical device. */
void vk_describe_device(vk_instance *vi, VkPhysicalDevice pd, int index, dt_device_info *info);
bool vk_has_device_extension(vk_fns *fn, VkPhysicalDevice pd, const char *name);

/* ---- buffers (vulkan_memory.c) ---------------------------------------------- */

typedef struct vk_buffer {
    dt_buffer base;
    VkBuffer buffer;
    VkDeviceMemory memory;
    size_t alloc_size;   /* bytes allocated (size rounded up) */
    void *mapped;        /* persistently mapped when host-visible */
    uint64_t last_use;   /* serial of the last batch that read or wrote it */
    uint64_t last_write; /* serial of the last batch that wrote it */
} vk_buffer;

/* ---- batches (vulkan_commands.c) ---------------------------------------------- */

#define VK_BATCHES       2
#define VK_BATCH_MAX_OPS 256 /* descriptor sets per batch */
#define VK_MAX_BINDINGS  8
#define VK_STAGING_BYTES ((size_t)8 << 20) /* upload room per batch */

typedef struct vk_batch {
    VkCommandBuffer cmd;
    VkFence fence;
    VkDescriptorPool pool;
    vk_buffer *staging; /* host-visible upload room, written before submit */
    size_t staging_used;
    uint64_t serial;
    int n_ops;
    bool recording, submitted;
    const char *last_op; /* for messages about asynchronous failures */
} vk_batch;

/* ---- pipelines (vulkan_pipeline.c) ------------------------------------------- */

/* name, bindings: one line per shader in shaders/ (symbol vk_spv_<name>). */
#define VK_SHADERS(X)                                                                              \
    X(gemm, 3)                                                                                     \
    X(gemm_cpu, 3)                                                                                 \
    X(gemm_precise, 3)                                                                             \
    X(gemm_cpu_precise, 3)                                                                         \
    X(gemm_precise_dp, 3)                                                                          \
    X(gemm_cpu_precise_dp, 3)                                                                      \
    X(embedding_fwd, 3)                                                                            \
    X(embedding_bwd, 3)                                                                            \
    X(rmsnorm_fwd, 4)                                                                              \
    X(rmsnorm_fwd_sg, 4)                                                                           \
    X(rmsnorm_bwd_dx, 5)                                                                           \
    X(rmsnorm_bwd_dx_f64, 5)                                                                       \
    X(rmsnorm_bwd_dx_sg, 5)                                                                        \
    X(rmsnorm_bwd_dx_f64_sg, 5)                                                                    \
    X(rmsnorm_bwd_dw, 4)                                                                           \
    X(rope, 2)                                                                                     \
    X(attention_fwd, 3)                                                                            \
    X(attention_bwd_dq, 6)                                                                         \
    X(attention_bwd_dkv, 5)                                                                        \
    X(attention_fwd_sg, 3)                                                                         \
    X(attention_bwd_dq_sg, 6)                                                                      \
    X(attention_bwd_dkv_sg, 5)                                                                     \
    X(swiglu_fwd, 2)                                                                               \
    X(swiglu_bwd, 3)                                                                               \
    X(add, 3)                                                                                      \
    X(scale, 2)                                                                                    \
    X(softmax_xent, 4)                                                                             \
    X(softmax_xent_sg, 4)                                                                          \
    X(reduce_partial, 2)                                                                           \
    X(reduce_final, 2)                                                                             \
    X(adamw, 4)                                                                                    \
    X(demo_momentum, 2)                                                                            \
    X(demo_topk, 3)                                                                                \
    X(demo_tile_map, 3)                                                                            \
    X(demo_tile_sparse, 3)                                                                         \
    X(demo_tile_map_dp, 3)                                                                         \
    X(demo_tile_sparse_dp, 3)

#define VK_SHADER_ENUM(name, bindings) VK_SH_##name,
typedef enum vk_shader_id { VK_SHADERS(VK_SHADER_ENUM) VK_SH_COUNT } vk_shader_id;
#undef VK_SHADER_ENUM

#define VK_MAX_SPEC      8
#define VK_MAX_PIPELINES 192
#define VK_PUSH_BYTES    128

typedef struct vk_pipeline {
    vk_shader_id shader;
    int n_spec;
    uint32_t spec[VK_MAX_SPEC];
    VkPipeline pipeline;
} vk_pipeline;

/* ---- the device --------------------------------------------------------------- */

/* Device options (vulkan:N:kernels=gpu:staging=on...), by position. */
enum {
    VK_OPT_KERNELS = 0,
    VK_OPT_STAGING,
    VK_OPT_FP64,
    VK_OPT_VALIDATION,
    VK_OPT_PROFILE,
    VK_OPT_SHARED
};
enum { VK_KERNELS_AUTO = 0, VK_KERNELS_CPU = 1, VK_KERNELS_GPU = 2 };

#define VK_PROFILE_OPS 48
typedef struct vk_profile_entry {
    const char *op;
    long calls;
    double seconds;
} vk_profile_entry;

typedef struct vk_device {
    dt_device base;
    vk_instance vi;
    vk_fns *fn; /* &vi.fn */
    VkPhysicalDevice physical;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    VkPhysicalDeviceLimits limits;
    VkPhysicalDeviceMemoryProperties mem_props;
    /* Memory types: device buffers, and host-visible staging / readback. */
    uint32_t type_device, type_upload, type_readback;
    bool unified;            /* device buffers are host-visible and mapped (lavapipe, iGPUs) */
    uint64_t max_allocation; /* largest single VkDeviceMemory */
    uint32_t subgroup_size;
    bool subgroup_shuffle; /* compute shaders may use subgroupShuffle */
    /* Use the shader variants written for CPU devices (lavapipe): one
     * subgroup per workgroup, registers and shuffles instead of shared
     * memory. The device option kernels=gpu turns them off, which is how
     * the GPU variants are tested on lavapipe; kernels=cpu asks for them on
     * any device that can run them. */
    bool cpu_kernels;
    /* Shaders may promise to keep subnormals (shaderDenormPreserveFloat32):
     * the canonical update then uses its _dp variants. */
    bool denorm_preserve;
    bool float_controls_ext; /* VK_KHR_shader_float_controls must be enabled */
    /* Shaders with a double-precision variant use it (shaderFloat64, unless
     * fp64=off asks for the fp32 variants GPUs without doubles run). */
    bool use_f64;

    VkCommandPool cmd_pool;
    vk_batch batches[VK_BATCHES];
    int current;          /* the batch that records next */
    uint64_t next_serial; /* serial of the next batch to begin */
    uint64_t completed;   /* every batch with serial <= this has finished */
    vk_buffer *readback;  /* downloads from device-only memory pass here */

    /* Hazard tracking since the last barrier (buffer granularity). */
    VkBuffer hz_read[32], hz_write[32];
    int n_hz_read, n_hz_write;

    VkDescriptorSetLayout set_layouts[VK_MAX_BINDINGS + 1]; /* by binding count */
    VkPipelineLayout pipe_layouts[VK_MAX_BINDINGS + 1];
    vk_pipeline pipelines[VK_MAX_PIPELINES];
    int n_pipelines;

    vk_buffer *workspace; /* grown on demand; scratch of multi-pass ops */

    bool profile; /* profile=on: ops run one at a time, timed */
    double profile_t0;
    vk_profile_entry profile_ops[VK_PROFILE_OPS];
    int n_profile;

    bool lost; /* a fatal driver error happened; every op now fails */
    char lost_reason[256];
} vk_device;

static inline vk_device *vk_dev(dt_device *d) {
    return (vk_device *)d;
}
static inline vk_buffer *vk_buf(const dt_buffer *b) {
    return (vk_buffer *)b;
}

/* dt_status for a VkResult (OOM kinds to DT_ERR_OOM, the rest DT_ERR_DEVICE)
 * with a message naming the op, the call and the device. Device loss marks
 * the device lost. */
dt_status vk_fail(vk_device *d, const char *op, const char *call, VkResult r);
const char *vk_result_name(VkResult r);

/* vulkan_memory.c */
/* The first memory type among `allowed` (a bit per type) with every flag of
 * `need` and none of `avoid`, or -1. */
int vk_memory_type(const VkPhysicalDeviceMemoryProperties *mp, uint32_t allowed,
                   VkMemoryPropertyFlags need, VkMemoryPropertyFlags avoid);
/* Memory types for device buffers and staging; with `staging`, device
 * buffers live in device memory reached through staging copies even where
 * the device shares the host's memory (how a discrete GPU works). */
dt_status vk_select_memory_types(vk_device *d, bool staging);
/* A raw buffer; host_visible picks the staging or readback memory type,
 * otherwise the device type (mapped when the device is unified). */
typedef enum vk_memory_kind { VK_MEM_DEVICE, VK_MEM_UPLOAD, VK_MEM_READBACK } vk_memory_kind;
dt_status vk_buffer_create(vk_device *d, size_t bytes, vk_memory_kind kind, const char *op,
                           vk_buffer **out);
void vk_buffer_destroy(vk_device *d, vk_buffer *b);
/* Device scratch of at least `bytes`, grown (after a sync) when too small. */
dt_status vk_workspace(vk_device *d, size_t bytes, const char *op, vk_buffer **out);
/* Record a fill of bytes [offset, offset + bytes) with a 32-bit pattern. */
dt_status vk_fill(vk_device *d, const char *op, vk_buffer *buf, size_t offset, size_t bytes,
                  uint32_t bits);

/* vulkan_commands.c */
dt_status vk_batches_create(vk_device *d);
void vk_batches_destroy(vk_device *d);
/* The batch recording now, begun if needed (may wait for its previous use). */
dt_status vk_record(vk_device *d, const char *op, vk_batch **out);
/* Buffers a command reads and writes: emits a barrier when it depends on
 * unsynchronised earlier work, then records the accesses. */
typedef struct vk_access {
    vk_buffer *buf;
    bool write;
} vk_access;
void vk_hazard(vk_device *d, vk_batch *b, const vk_access *acc, int n);
/* Count one op against the batch and submit it when full. */
dt_status vk_op_done(vk_device *d, vk_batch *b, const char *op);
/* Submit the recording batch (if it holds work). */
dt_status vk_submit(vk_device *d, const char *op);
/* Advance `completed` past batches that have finished, without waiting. */
void vk_poll(vk_device *d);
/* Wait until every batch up to `serial` has finished (submitting if needed). */
dt_status vk_wait(vk_device *d, uint64_t serial, const char *op);
/* Fail fast on a lost device. */
dt_status vk_check_alive(vk_device *d, const char *op);

/* vulkan_device.c: info.note from the device's state. */
void vk_set_note(vk_device *d);

/* vulkan_ops_demo.c: identity of the canonical update's shaders for the
 * exactness probe's cache (dt_device.canonical_source). */
uint64_t vk_canonical_source(bool cpu_kernels);

/* vulkan_profile.c */
void vk_profile_begin(vk_device *d);
/* With profiling on: wait for the op and add its time to the table. */
dt_status vk_profile_end(vk_device *d, const char *op);
void vk_profile_report(const vk_device *d);

/* vulkan_pipeline.c */
dt_status vk_layouts_create(vk_device *d);
/* dt_hash64 of a shader's SPIR-V, continuing from h. */
uint64_t vk_shader_hash(uint64_t h, vk_shader_id shader);
/* A shader's name in VK_SHADERS ("gemm", "attention_fwd_sg", ...). */
const char *vk_shader_name(vk_shader_id shader);
/* A new compute pipeline of the shader with these specialisation constants
 * (constant_id i = spec[i]) and creation flags, on vk_layouts_create's
 * layouts; dispatches get theirs from a per-device cache instead. */
dt_status vk_pipeline_create(vk_device *d, const char *op, vk_shader_id id, const uint32_t *spec,
                             int n_spec, VkPipelineCreateFlags flags, VkPipeline *out);
void vk_pipelines_destroy(vk_device *d);
/* One binding of a dispatch: bytes [offset, offset + bytes) of buf. The
 * shader receives the element offset of `offset` inside its binding as the
 * binding's uint in the push constants, so views need no descriptor offset
 * alignment. */
typedef struct vk_arg {
    const vk_buffer *buf;
    size_t offset, bytes;
    bool write;
} vk_arg;
/* The push constants are [uint offset per binding][params]; params holds
 * 4-byte fields. Groups beyond the device limit are the caller's concern. */
dt_status vk_dispatch(vk_device *d, const char *op, vk_shader_id shader, const uint32_t *spec,
                      int n_spec, const vk_arg *args, int n_args, const void *params,
                      size_t params_bytes, uint32_t gx, uint32_t gy, uint32_t gz);
/* A view as a dispatch argument. */
static inline vk_arg vk_in(const dt_tensor *t) {
    return (vk_arg){vk_buf(t->buf), t->offset, dt_tensor_bytes(t), false};
}
static inline vk_arg vk_out(const dt_tensor *t) {
    return (vk_arg){vk_buf(t->buf), t->offset, dt_tensor_bytes(t), true};
}
/* Workgroups for n items of `per_group` each, capped for grid-stride loops. */
uint32_t vk_groups(int64_t n, int64_t per_group);

/* ---- the device's entries -------------------------------------------------------
 * vk_op_<name> for every entry of runtime/op_list.h: close in
 * vulkan_device.c, sync in vulkan_commands.c, the buffer entries in
 * vulkan_memory.c, the ops in vulkan_ops_gemm.c, vulkan_ops_nn.c,
 * vulkan_ops_attention.c, vulkan_ops_elementwise.c and vulkan_ops_demo.c. */
#define VK_DECLARE_OP(ret, name, params, args) ret vk_op_##name params;
DT_DEVICE_CORE(VK_DECLARE_OP)
DT_DEVICE_OPS(VK_DECLARE_OP)
#undef VK_DECLARE_OP

/* ---- ops ------------------------------------------------------------------------ */

/* vulkan_ops_gemm.c */
/* A GEMM on raw bindings (desc normalised; stride 0 shares an operand
 * across the batch). `precise`: every output is summed from 0.0 in
 * ascending k, one rounded product at a time (the canonical update). */
dt_status vk_gemm(vk_device *d, const char *op, const dt_gemm_desc *g, vk_arg a, vk_arg b, vk_arg c,
                  bool precise);

/* vulkan_ops_attention.c */
/* Threads per row in the GPU attention shaders (attention_tile.glsl's TPR). */
#define VK_ATTN_TPR 8
/* The GPU attention shaders' tiles for a head size on a device with these
 * limits: rows per workgroup (VK_ATTN_TPR threads each) and rows per
 * streamed block, their specialisation constants VK_ATTN_TPR * rows,
 * head_dim, rows, block. False when even the smallest tiles do not fit the
 * shared memory or the workgroup size. */
bool vk_attention_tiles(const VkPhysicalDeviceLimits *lim, int64_t head_dim, uint32_t *rows,
                        uint32_t *block);

#endif
