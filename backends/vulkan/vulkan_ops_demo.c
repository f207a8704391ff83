/* The DeMo ops: tile DCT encode, per-tile top-k, decode-and-subtract, and
 * the canonical aggregate-decode-sign-apply.
 *
 * The tile transforms are batched GEMMs (one batch item per tile, the DCT
 * basis shared by all) on whole tiles laid out contiguously in the device
 * workspace, with elementwise passes between the tensor's row-major layout
 * and that one (shaders/demo_tile_map.comp) and from sparse to dense tiles
 * (shaders/demo_tile_sparse.comp). So they run at GEMM speed on every
 * device, and large tensors go through in chunks of tiles to bound the
 * workspace.
 *
 * The canonical update is exact because each step is: the sparse
 * aggregation walks contributions and entries in order, one invocation per
 * tile; the mean multiplies by the host's reciprocal; the two inverse-DCT
 * GEMMs are the `precise` variants, which form every output as a sum from
 * 0.0 of one rounded product at a time in ascending index; the final step
 * (by sign(X), or by X itself under the scaled rule) is `precise` as well.
 * The runtime probes it against the host before trusting it
 * (runtime/canonical_probe.c). */
#include <string.h>

#include "backends/vulkan/vulkan_backend.h"

uint64_t vk_canonical_source(bool cpu_kernels) {
    /* Every shader the update may use on some device (which one a device
     * takes depends only on its properties and on the kernel variant). */
    static const vk_shader_id used[] = {VK_SH_gemm_precise,     VK_SH_gemm_precise_dp,
                                        VK_SH_gemm_cpu_precise, VK_SH_gemm_cpu_precise_dp,
                                        VK_SH_demo_tile_map,    VK_SH_demo_tile_map_dp,
                                        VK_SH_demo_tile_sparse, VK_SH_demo_tile_sparse_dp};
    uint64_t h = DT_HASH64_SEED;
    for (size_t i = 0; i < sizeof used / sizeof used[0]; i++) h = vk_shader_hash(h, used[i]);
    const char *variant = cpu_kernels ? "kernels=cpu" : "kernels=gpu";
    return dt_hash64(h, variant, strlen(variant));
}

enum { MAP_GATHER = 0, MAP_SUBTRACT = 1, MAP_MEAN = 2, MAP_SIGN = 3, MAP_SCALED = 4 };
enum { SPARSE_ASSIGN = 0, SPARSE_AGGREGATE = 1 };

/* Tiles per chunk when `regions` workspace tiles are needed per tile. */
static int64_t chunk_tiles(const vk_device *d, const dt_tile_plan *plan, int regions) {
    int64_t budget = (int64_t)d->base.info.memory_bytes / 16;
    if (budget > ((int64_t)256 << 20)) budget = (int64_t)256 << 20;
    if (budget < ((int64_t)16 << 20)) budget = (int64_t)16 << 20;
    /* One binding must span a region. */
    int64_t range = (int64_t)d->limits.maxStorageBufferRange - 256;
    int64_t per_tile = plan->tile_size * 4;
    int64_t n = budget / (per_tile * regions);
    if (n > range / (per_tile * regions)) n = range / (per_tile * regions);
    if (n > plan->n_tiles) n = plan->n_tiles;
    return n < 1 ? 1 : n;
}

/* A chunk is a run of tiles t0 .. t0 + tiles - 1 that is also a rectangle:
 * whole tile rows, or part of one tile row. */
typedef struct tile_chunk {
    const dt_tile_plan *plan;
    vk_buffer *work;
    int64_t per;                    /* tiles a workspace region holds */
    int64_t t0, tiles;              /* the chunk's first tile and its tile count */
    int64_t row0, col0, rows, cols; /* the rectangle, in tiles */
    size_t region;                  /* bytes of one workspace region */
} tile_chunk;

static vk_arg region(const tile_chunk *c, int i, bool write) {
    return (vk_arg){c->work, (size_t)i * c->region, c->region, write};
}

/* One demo_tile_map pass over the chunk; `tensor` is the row-major tensor
 * (or any read-only view when the mode does not use it), `aux` the
 * reciprocal table for MAP_MEAN. The counts of MAP_MEAN are in region 1. */
static dt_status tile_map(vk_device *d, const char *op, uint32_t mode, const tile_chunk *c,
                          vk_arg tensor, vk_arg aux, float lr, float decay) {
    const dt_tile_plan *pl = c->plan;
    struct {
        uint32_t cols, n1, n2, row0, col0, chunk_rows, chunk_cols, cnt;
        float lr, decay;
    } p = {(uint32_t)pl->cols,
           (uint32_t)pl->tile_rows,
           (uint32_t)pl->tile_cols,
           (uint32_t)c->row0,
           (uint32_t)c->col0,
           (uint32_t)c->rows,
           (uint32_t)c->cols,
           (uint32_t)(c->region / 4),
           lr,
           decay};
    vk_arg args[3] = {tensor, region(c, 0, mode == MAP_GATHER || mode == MAP_MEAN), aux};
    return vk_dispatch(d, op, d->denorm_preserve ? VK_SH_demo_tile_map_dp : VK_SH_demo_tile_map,
                       &mode, 1, args, 3, &p, sizeof p, vk_groups(pl->tile_cols, 64),
                       vk_groups(c->cols, 1), vk_groups(c->rows, 1));
}

static dt_status tile_sparse(vk_device *d, const char *op, uint32_t mode, const tile_chunk *c,
                             const dt_tensor *idx, const dt_tensor *vals, int64_t k,
                             int64_t n_contrib) {
    const dt_tile_plan *pl = c->plan;
    struct {
        uint32_t n_tiles, t0, tiles, k, n_contrib, size, cnt;
    } p = {(uint32_t)pl->n_tiles, (uint32_t)c->t0,         (uint32_t)c->tiles,       (uint32_t)k,
           (uint32_t)n_contrib,   (uint32_t)pl->tile_size, (uint32_t)(c->region / 4)};
    vk_arg args[3] = {vk_in(idx), vk_in(vals), {c->work, 0, 2 * c->region, true}};
    return vk_dispatch(d, op,
                       d->denorm_preserve ? VK_SH_demo_tile_sparse_dp : VK_SH_demo_tile_sparse,
                       &mode, 1, args, 3, &p, sizeof p, vk_groups(c->tiles, 64), 1, 1);
}

/* out_t = F1 in_t (rows) over the chunk's tiles: a batched GEMM with the
 * basis shared (stride 0); `transpose_f1` uses F1^T instead. */
static dt_status rows_transform(vk_device *d, const char *op, const tile_chunk *c,
                                const dt_tensor *f1, bool transpose_f1, vk_arg in, vk_arg out,
                                bool precise) {
    const int64_t n1 = c->plan->tile_rows, n2 = c->plan->tile_cols, S = c->plan->tile_size;
    dt_gemm_desc g = {transpose_f1, 0, n1, n2, n1, 1.0f, 0.0f, n1, n2, n2, c->tiles, 0, S, S};
    return vk_gemm(d, op, &g, vk_in(f1), in, out, precise);
}

/* out_t = in_t F2 (or in_t F2^T) over the chunk's tiles. */
static dt_status cols_transform(vk_device *d, const char *op, const tile_chunk *c,
                                const dt_tensor *f2, bool transpose_f2, vk_arg in, vk_arg out,
                                bool precise) {
    const int64_t n1 = c->plan->tile_rows, n2 = c->plan->tile_cols, S = c->plan->tile_size;
    dt_gemm_desc g = {0, transpose_f2, n1, n2, n2, 1.0f, 0.0f, n2, n2, n2, c->tiles, S, 0, S};
    return vk_gemm(d, op, &g, in, vk_in(f2), out, precise);
}

static dt_status begin_chunks(vk_device *d, const char *op, const dt_tile_plan *plan, int regions,
                              tile_chunk *c) {
    c->plan = plan;
    c->per = chunk_tiles(d, plan, regions);
    /* Whole tile rows whenever a region holds one. */
    if (c->per >= plan->tiles_per_row) c->per = c->per / plan->tiles_per_row * plan->tiles_per_row;
    c->region = (size_t)(c->per * plan->tile_size * 4);
    c->t0 = 0;
    c->tiles = 0;
    return vk_workspace(d, c->region * (size_t)regions, op, &c->work);
}

/* Advance to the next chunk; false when done. */
static bool next_chunk(tile_chunk *c) {
    const int64_t tpr = c->plan->tiles_per_row;
    c->t0 += c->tiles;
    if (c->t0 >= c->plan->n_tiles) return false;
    c->row0 = c->t0 / tpr;
    c->col0 = c->t0 % tpr;
    if (c->col0 == 0 && c->per >= tpr) {
        int64_t left = c->plan->n_tiles / tpr - c->row0;
        c->rows = c->per / tpr < left ? c->per / tpr : left;
        c->cols = tpr;
    } else {
        c->rows = 1;
        c->cols = c->per < tpr - c->col0 ? c->per : tpr - c->col0;
    }
    c->tiles = c->rows * c->cols;
    return true;
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        dt_status try_st_ = (expr);                                                                \
        if (try_st_ != DT_OK) return try_st_;                                                      \
    } while (0)

dt_status vk_op_demo_encode(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *x,
                            const dt_tensor *f1, const dt_tensor *f2, const dt_tensor *coeffs) {
    vk_device *d = vk_dev(dev);
    const char *op = "demo_encode";
    tile_chunk c;
    TRY(begin_chunks(d, op, plan, 2, &c));
    while (next_chunk(&c)) {
        /* X = F1^T (x F2), per tile. */
        TRY(tile_map(d, op, MAP_GATHER, &c, vk_in(x), vk_in(f1), 0.0f, 0.0f));
        TRY(cols_transform(d, op, &c, f2, false, region(&c, 0, false), region(&c, 1, true), false));
        vk_arg out = {vk_buf(coeffs->buf), coeffs->offset + (size_t)(c.t0 * plan->tile_size * 4),
                      (size_t)(c.tiles * plan->tile_size * 4), true};
        TRY(rows_transform(d, op, &c, f1, true, region(&c, 1, false), out, false));
    }
    return DT_OK;
}

dt_status vk_op_demo_topk(dt_device *dev, const dt_tensor *coeffs, int64_t n_tiles,
                          int64_t tile_size, int64_t k, const dt_tensor *idx,
                          const dt_tensor *vals) {
    vk_device *d = vk_dev(dev);
    struct {
        uint32_t n_tiles, size, k;
    } p = {(uint32_t)n_tiles, (uint32_t)tile_size, (uint32_t)k};
    vk_arg args[3] = {vk_in(coeffs), vk_out(idx), vk_out(vals)};
    return vk_dispatch(d, "demo_topk", VK_SH_demo_topk, NULL, 0, args, 3, &p, sizeof p,
                       vk_groups(n_tiles, 1), 1, 1);
}

dt_status vk_op_demo_decode_sub(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                                const dt_tensor *vals, int64_t k, const dt_tensor *f1,
                                const dt_tensor *f2, const dt_tensor *dm) {
    vk_device *d = vk_dev(dev);
    const char *op = "demo_decode_sub";
    tile_chunk c;
    TRY(begin_chunks(d, op, plan, 2, &c));
    while (next_chunk(&c)) {
        /* A from the sparse entries, then D -= (F1 A) F2^T, per tile. */
        TRY(vk_fill(d, op, c.work, 0, (size_t)(c.tiles * plan->tile_size * 4), 0));
        TRY(tile_sparse(d, op, SPARSE_ASSIGN, &c, idx, vals, k, 1));
        TRY(rows_transform(d, op, &c, f1, false, region(&c, 0, false), region(&c, 1, true), false));
        TRY(cols_transform(d, op, &c, f2, true, region(&c, 1, false), region(&c, 0, true), false));
        TRY(tile_map(d, op, MAP_SUBTRACT, &c, vk_out(dm), vk_in(f1), 0.0f, 0.0f));
    }
    return DT_OK;
}

dt_status vk_op_demo_apply(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                           const dt_tensor *vals, int64_t k, int64_t n_contrib,
                           const dt_tensor *recip, const dt_tensor *f1, const dt_tensor *f2,
                           const dt_tensor *w, float lr, float decay, dt_demo_update update) {
    vk_device *d = vk_dev(dev);
    const char *op = "demo_apply";
    /* The runtime has refused any other rule. */
    const uint32_t step_mode = update == DT_DEMO_UPDATE_SCALED ? MAP_SCALED : MAP_SIGN;
    tile_chunk c;
    TRY(begin_chunks(d, op, plan, 2, &c));
    while (next_chunk(&c)) {
        /* acc and cnt (regions 0 and 1) from the contributions in order;
         * A = acc * recip[cnt]; Y = F1 A (into region 1); X = Y F2^T (into
         * region 0); W = W * decay - lr * sign(X) (or lr * X). */
        size_t used = (size_t)(c.tiles * plan->tile_size * 4);
        TRY(vk_fill(d, op, c.work, 0, used, 0));
        TRY(vk_fill(d, op, c.work, c.region, used, 0));
        TRY(tile_sparse(d, op, SPARSE_AGGREGATE, &c, idx, vals, k, n_contrib));
        TRY(tile_map(d, op, MAP_MEAN, &c, vk_in(f1), vk_in(recip), 0.0f, 0.0f));
        TRY(rows_transform(d, op, &c, f1, false, region(&c, 0, false), region(&c, 1, true), true));
        TRY(cols_transform(d, op, &c, f2, true, region(&c, 1, false), region(&c, 0, true), true));
        TRY(tile_map(d, op, step_mode, &c, vk_out(w), vk_in(f1), lr, decay));
    }
    return DT_OK;
}
