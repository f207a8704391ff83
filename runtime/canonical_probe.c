/* The one exactness probe of the canonical DeMo update, for every backend.
 *
 * A device's demo_apply is trusted only once it has reproduced
 * dt_demo_apply_host bit for bit, under both update rules, on problems
 * built to expose the ways a driver breaks exactness:
 * - contraction traps: two products that cancel exactly when each is
 *   rounded on its own, but leave 2^-24 when a driver fuses them into an
 *   FMA despite FP_CONTRACT OFF / `precise` (one trap per IDCT stage, and
 *   one for the final W * decay - lr * X, which only the scaled rule can
 *   fuse both ways); the sign step turns an IDCT trap into a visible change
 *   of W, the scaled step carries it into W unchanged;
 * - subnormals: data whose every step produces them (means, products, sums,
 *   the decay and the step), which a device that flushes them to zero gets
 *   wrong (Vulkan lets a device flush unless a shader asks to keep them);
 * - a random problem with several contributors, shared slots and an
 *   out-of-range index; under the scaled rule W is small next to lr * X, so
 *   that nearly every bit of X reaches W (sign hides all but its sign).
 *
 * It runs at the first dt_demo_apply on a device (not at open: building the
 * canonical kernels costs seconds on some drivers, and most opens never run
 * DeMo). A device that differs has its canonical update run on the host for
 * the rest of its life (info.canonical_on_host, named in info.note), which
 * is what keeps replicas identical.
 *
 * The outcome is cached on disk per device, driver and canonical source
 * (dt_device.canonical_source: a hash of the kernel source and build
 * options, or of the SPIR-V, and the variant), so that later processes skip
 * the probe and `devices` can report a failed one without opening the
 * device. Location: $DISTRO_CACHE_DIR, else $XDG_CACHE_HOME/distro/canonical,
 * else ~/.cache/distro/canonical; one small text file per key
 * ("canonical-<hash>.txt": a format line, the key, "exact" or "inexact"),
 * written atomically, used only when the key inside matches exactly. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/backend.h"
#include "runtime/file_io.h"

#define PROBE_FORMAT         "distro-canonical-probe/1"
#define PROBE_INEXACT_REASON "its result differed from the reference bits"

uint64_t dt_hash64(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* ---- reporting ---------------------------------------------------------------- */

void dt_canonical_on_host(dt_device_info *info, const char *reason) {
    if (info->canonical_on_host) return;
    info->canonical_on_host = true;
    size_t used = strlen(info->note);
    snprintf(info->note + used, sizeof info->note - used,
             "%scanonical DeMo update on the host (%s)", used ? "; " : "", reason);
    if (info->ops_on_device & ((uint64_t)1 << DT_OP_demo_apply)) {
        info->ops_on_device &= ~((uint64_t)1 << DT_OP_demo_apply);
        info->ops_on_host |= (uint64_t)1 << DT_OP_demo_apply;
    }
}

/* ---- the cache -------------------------------------------------------------------- */

typedef struct probe_key {
    char text[512];
    char file[640]; /* empty: no cache */
} probe_key;

static void key_make(probe_key *k, const dt_device_info *info, uint64_t source) {
    snprintf(k->text, sizeof k->text, "%s|%s|%s|%s|%s|%s|%016llx", PROBE_FORMAT, info->backend,
             info->name, info->vendor, info->driver, info->platform, (unsigned long long)source);
    k->file[0] = '\0';
    char dir[512];
    if (!source || !dt_cache_dir("canonical", dir, sizeof dir)) return;
    uint64_t h = dt_hash64(DT_HASH64_SEED, k->text, strlen(k->text));
    int n =
        snprintf(k->file, sizeof k->file, "%s/canonical-%016llx.txt", dir, (unsigned long long)h);
    if (n < 0 || (size_t)n >= sizeof k->file) k->file[0] = '\0';
}

/* 1 exact, 0 inexact, -1 nothing (valid) cached. */
static int cache_load(const probe_key *k) {
    if (!k->file[0]) return -1;
    FILE *f = fopen(k->file, "r");
    if (!f) return -1;
    char line[3][600];
    int ok = 1;
    for (int i = 0; i < 3 && ok; i++) {
        ok = fgets(line[i], sizeof line[i], f) != NULL;
        if (ok) line[i][strcspn(line[i], "\n")] = '\0';
    }
    ok = ok && fgetc(f) == EOF;
    fclose(f);
    if (!ok || strcmp(line[0], PROBE_FORMAT) != 0 || strcmp(line[1], k->text) != 0) return -1;
    if (strcmp(line[2], "exact") == 0) return 1;
    if (strcmp(line[2], "inexact") == 0) return 0;
    return -1;
}

/* Failing to write the cache is no error: the next process probes again. */
static void cache_store(const probe_key *k, int exact) {
    if (!k->file[0]) return;
    char dir[640];
    dt_strlcpy(dir, k->file, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (!slash) return;
    *slash = '\0';
    if (dt_make_dirs(dir) != 0) return;
    /* Processes probing at once each write their own file; rename makes
     * whichever finishes last the entry, never a mix. */
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", k->file, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    int ok = fprintf(f, "%s\n%s\n%s\n", PROBE_FORMAT, k->text, exact ? "exact" : "inexact") > 0;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    if (fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, k->file) != 0) unlink(tmp);
}

void dt_canonical_lookup(dt_device_info *info, uint64_t source) {
    if (info->canonical_on_host || !source) return;
    probe_key k;
    key_make(&k, info, source);
    if (cache_load(&k) == 0) dt_canonical_on_host(info, PROBE_INEXACT_REASON);
}

void dt_canonical_open(dt_device *dev) {
    dev->canonical_state = DT_CANONICAL_UNCHECKED;
    if (dev->info.canonical_on_host || !dev->ops->demo_apply) {
        dev->canonical_state = DT_CANONICAL_HOST;
        return;
    }
    if (!dev->canonical_source) return;
    probe_key k;
    key_make(&k, &dev->info, dev->canonical_source);
    int cached = cache_load(&k);
    if (cached == 1) dev->canonical_state = DT_CANONICAL_EXACT;
    if (cached == 0) {
        dt_canonical_on_host(&dev->info, PROBE_INEXACT_REASON);
        dev->canonical_state = DT_CANONICAL_HOST;
    }
}

/* ---- the problems ---------------------------------------------------------------- */

typedef struct apply_case {
    dt_tile_plan plan;
    int64_t k, n_contrib;
    const int32_t *idx;
    const float *vals, *recip, *f1, *f2, *w;
    float lr, decay;
    dt_demo_update update;
} apply_case;

/* Bytes of n 4-byte elements, rounded up to 16 bytes. */
static size_t span(int64_t n) {
    return ((size_t)n * 4 + 15) / 16 * 16;
}

/* Runs one case through the device's own entry (never the host fallback:
 * that is what is being decided) with every operand in one buffer, and
 * compares W with the host's bits. */
static dt_status run_case(dt_device *dev, const apply_case *c, int *exact) {
    const dt_tile_plan *p = &c->plan;
    const int64_t n_sparse = c->n_contrib * p->n_tiles * c->k, n_w = p->rows * p->cols;
    const int64_t n_f1 = p->tile_rows * p->tile_rows, n_f2 = p->tile_cols * p->tile_cols;
    const int64_t n_recip = c->n_contrib + 1;
    const size_t at_idx = 0, at_vals = at_idx + span(n_sparse), at_recip = at_vals + span(n_sparse);
    const size_t at_f1 = at_recip + span(n_recip), at_f2 = at_f1 + span(n_f1);
    const size_t at_w = at_f2 + span(n_f2), total = at_w + span(n_w);
    float *want = malloc((size_t)n_w * sizeof(float) * 2);
    if (!want) return dt_error(DT_ERR_OOM, "demo_apply probe: out of host memory");
    float *got = want + n_w;
    memcpy(want, c->w, (size_t)n_w * sizeof(float));
    dt_status st = dt_demo_apply_host(p, c->idx, c->vals, c->k, c->n_contrib, c->recip, c->f1,
                                      c->f2, want, c->lr, c->decay, c->update);
    dt_buffer *b = NULL;
    if (st == DT_OK) st = dt_buffer_alloc(dev, total, &b);
    if (st == DT_OK) st = dt_buffer_upload(b, at_idx, c->idx, (size_t)n_sparse * 4);
    if (st == DT_OK) st = dt_buffer_upload(b, at_vals, c->vals, (size_t)n_sparse * 4);
    if (st == DT_OK) st = dt_buffer_upload(b, at_recip, c->recip, (size_t)n_recip * 4);
    if (st == DT_OK) st = dt_buffer_upload(b, at_f1, c->f1, (size_t)n_f1 * 4);
    if (st == DT_OK) st = dt_buffer_upload(b, at_f2, c->f2, (size_t)n_f2 * 4);
    if (st == DT_OK) st = dt_buffer_upload(b, at_w, c->w, (size_t)n_w * 4);
    if (st == DT_OK) {
        dt_tensor idx = dt_tensor_1d(b, at_idx, DT_I32, n_sparse);
        dt_tensor vals = dt_tensor_1d(b, at_vals, DT_F32, n_sparse);
        dt_tensor recip = dt_tensor_1d(b, at_recip, DT_F32, n_recip);
        dt_tensor f1 = dt_tensor_1d(b, at_f1, DT_F32, n_f1);
        dt_tensor f2 = dt_tensor_1d(b, at_f2, DT_F32, n_f2);
        dt_tensor w = dt_tensor_1d(b, at_w, DT_F32, n_w);
        st = dev->ops->demo_apply(dev, p, &idx, &vals, c->k, c->n_contrib, &recip, &f1, &f2, &w,
                                  c->lr, c->decay, c->update);
    }
    if (st == DT_OK) st = dt_buffer_download(b, at_w, got, (size_t)n_w * 4);
    if (st == DT_OK && memcmp(want, got, (size_t)n_w * sizeof(float)) != 0) *exact = 0;
    dt_buffer_free(b);
    free(want);
    return st;
}

/* The traps hold under either rule: run both. */
static dt_status run_both_rules(dt_device *dev, apply_case *c, int *exact) {
    c->update = DT_DEMO_UPDATE_SIGN;
    dt_status st = run_case(dev, c, exact);
    c->update = DT_DEMO_UPDATE_SCALED;
    return st == DT_OK ? run_case(dev, c, exact) : st;
}

/* 1 + 2^-12 squared is 1 + 2^-11 + 2^-24, which rounds (to even) to
 * 1 + 2^-11; so (-(1 + 2^-11)) * 1 + (1 + 2^-12) * (1 + 2^-12) is exactly 0
 * with separate roundings and 2^-24 with a fused multiply-add. */
#define TRAP_A (-(1.0f + 0x1p-11f))
#define TRAP_B (1.0f + 0x1p-12f)

static const float recip_one[2] = {0.0f, 1.0f};

/* The two IDCT-stage traps: contributions TRAP_A and TRAP_B at `idx` of a
 * tile of `shape` (chunk 2), lr = decay = 1 so that the scaled rule's
 * 0.5 - 2^-24 is representable (with a smaller lr the trap's 2^-24 would
 * round away against W = 0.5). */
static dt_status run_trap(dt_device *dev, int ndim, const int64_t *shape, const int32_t *idx,
                          const float *f1, const float *f2, const float *w, int *exact) {
    static const float vals[2] = {TRAP_A, TRAP_B};
    apply_case c = {.k = 2,
                    .n_contrib = 1,
                    .idx = idx,
                    .vals = vals,
                    .recip = recip_one,
                    .f1 = f1,
                    .f2 = f2,
                    .w = w,
                    .lr = 1.0f,
                    .decay = 1.0f};
    dt_status st = dt_demo_tile_plan(ndim, shape, 2, &c.plan);
    return st == DT_OK ? run_both_rules(dev, &c, exact) : st;
}

/* First IDCT stage: a 2 x 2 tile, F1 row 0 = (1, 1+2^-12), F2 = identity. */
static dt_status trap_rows(dt_device *dev, int *exact) {
    static const int32_t idx[2] = {0, 2}; /* A[0][0] and A[1][0] */
    static const float f1[4] = {1.0f, TRAP_B, 0.0f, 0.0f}, f2[4] = {1.0f, 0.0f, 0.0f, 1.0f};
    static const float w[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    return run_trap(dev, 2, (int64_t[]){2, 2}, idx, f1, f2, w, exact);
}

/* Second stage: a 1-D segment of 2, F2 row 0 = (1, 1+2^-12). */
static dt_status trap_cols(dt_device *dev, int *exact) {
    static const int32_t idx[2] = {0, 1};
    static const float f1[1] = {1.0f}, f2[4] = {1.0f, TRAP_B, 0.0f, 0.0f};
    static const float w[2] = {0.5f, 0.5f};
    return run_trap(dev, 1, (int64_t[]){2}, idx, f1, f2, w, exact);
}

/* The final step: X = (1+2^-12, 0) and W = decay = lr = 1+2^-12, so W * decay
 * and lr * X both round to 1 + 2^-11 and W becomes exactly 0 under the
 * scaled rule; fma(-lr, X, W * decay) leaves -2^-24, fma(W, decay, -lr * X)
 * +2^-24. Under the sign rule the second fusion shows as well (2^-12 + 2^-24
 * instead of 2^-12). */
static dt_status trap_step(dt_device *dev, int *exact) {
    static const int32_t idx[1] = {0};
    static const float vals[1] = {TRAP_B};
    static const float f1[1] = {1.0f}, f2[4] = {1.0f, 0.0f, 0.0f, 1.0f};
    static const float w[2] = {TRAP_B, TRAP_B};
    apply_case c = {.k = 1,
                    .n_contrib = 1,
                    .idx = idx,
                    .vals = vals,
                    .recip = recip_one,
                    .f1 = f1,
                    .f2 = f2,
                    .w = w,
                    .lr = TRAP_B,
                    .decay = TRAP_B};
    dt_status st = dt_demo_tile_plan(1, (int64_t[]){2}, 2, &c.plan);
    return st == DT_OK ? run_both_rules(dev, &c, exact) : st;
}

/* Subnormals everywhere: two 1 x 4 tiles, two contributions. Sign: lr * 1
 * is subnormal itself. Scaled: lr * X rounds in the subnormal range wherever
 * X is subnormal, and 0.75 is not a power of two, so that rounding is not
 * exact. */
static dt_status subnormals(dt_device *dev, dt_demo_update update, int *exact) {
    enum { N = 8, TILE = 4, K = 2, CONTRIB = 2 };
    static const int32_t idx[CONTRIB * 2 * K] = {0, 3, 1, 2, 0, 1, 1, 3};
    static const float vals[CONTRIB * 2 * K] = {0x1p-130f, -0x1p-133f, 0x1.8p-127f, 0x1p-1f,
                                                0x1p-131f, 0x1p-135f,  -0x1p-128f,  0x1p-126f};
    static const float w[N] = {0x1p-128f, -0x1p-127f, 0x1p-149f,  -0x1p-130f,
                               1.0f,      0.5f,       -0x1p-126f, 0x1p-129f};
    static const float f1[1] = {1.0f};
    float f2[TILE * TILE], recip[CONTRIB + 1];
    dt_dct_basis(TILE, f2);
    dt_recip_table(CONTRIB, recip);
    const int scaled = update == DT_DEMO_UPDATE_SCALED;
    apply_case c = {.k = K,
                    .n_contrib = CONTRIB,
                    .idx = idx,
                    .vals = vals,
                    .recip = recip,
                    .f1 = f1,
                    .f2 = f2,
                    .w = w,
                    .lr = scaled ? 0.75f : 0x1p-140f,
                    .decay = 0.75f,
                    .update = update};
    dt_status st = dt_demo_tile_plan(1, (int64_t[]){N}, TILE, &c.plan);
    return st == DT_OK ? run_case(dev, &c, exact) : st;
}

static uint32_t lcg_next(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}
static float lcg_float(uint32_t *s) {
    return (float)lcg_next(s) / 8388608.0f * 2.0f - 1.0f;
}

/* 12 x 20 in 6 x 5 tiles, 3 contributors of 7 distinct indices per tile.
 * X is some 1e-4 to 1e-3; under the scaled rule W starts no larger and lr
 * is near 1, so W's low bits come from X's. */
static dt_status random_case(dt_device *dev, dt_demo_update update, int *exact) {
    enum { ROWS = 12, COLS = 20, N1 = 6, N2 = 5, TILES = 8, K = 7, C = 3 };
    int32_t idx[C * TILES * K];
    float vals[C * TILES * K], recip[C + 1], f1[N1 * N1], f2[N2 * N2], w[ROWS * COLS];
    uint32_t seed = 12345;
    for (int i = 0; i < C * TILES; i++) {
        int32_t perm[N1 * N2];
        for (int j = 0; j < N1 * N2; j++) perm[j] = j;
        for (int j = 0; j < K; j++) { /* partial Fisher-Yates: distinct slots */
            int r = j + (int)(lcg_next(&seed) % (uint32_t)(N1 * N2 - j));
            int32_t tmp = perm[j];
            perm[j] = perm[r];
            perm[r] = tmp;
            idx[i * K + j] = perm[j];
            vals[i * K + j] = lcg_float(&seed) * 1e-3f;
        }
    }
    idx[5] = N1 * N2 + 3; /* out of range: skipped by every implementation */
    const int scaled = update == DT_DEMO_UPDATE_SCALED;
    for (int i = 0; i < ROWS * COLS; i++) w[i] = lcg_float(&seed) * (scaled ? 1e-3f : 0.05f);
    dt_recip_table(C, recip);
    dt_dct_basis(N1, f1);
    dt_dct_basis(N2, f2);
    apply_case c = {.k = K,
                    .n_contrib = C,
                    .idx = idx,
                    .vals = vals,
                    .recip = recip,
                    .f1 = f1,
                    .f2 = f2,
                    .w = w,
                    .lr = scaled ? 0.7f : 3e-3f,
                    .decay = 0.9997f,
                    .update = update};
    dt_status st = dt_demo_tile_plan(2, (int64_t[]){ROWS, COLS}, 8, &c.plan);
    return st == DT_OK ? run_case(dev, &c, exact) : st;
}

dt_status dt_canonical_probe(dt_device *dev, int *exact) {
    *exact = 1;
    if (!dev->ops->demo_apply) {
        *exact = 0;
        return DT_OK;
    }
    dt_status st = trap_rows(dev, exact);
    if (st == DT_OK) st = trap_cols(dev, exact);
    if (st == DT_OK) st = trap_step(dev, exact);
    if (st == DT_OK) st = subnormals(dev, DT_DEMO_UPDATE_SIGN, exact);
    if (st == DT_OK) st = subnormals(dev, DT_DEMO_UPDATE_SCALED, exact);
    if (st == DT_OK) st = random_case(dev, DT_DEMO_UPDATE_SIGN, exact);
    if (st == DT_OK) st = random_case(dev, DT_DEMO_UPDATE_SCALED, exact);
    return st;
}

dt_status dt_canonical_check(dt_device *dev) {
    if (dev->canonical_state != DT_CANONICAL_UNCHECKED) return DT_OK;
    if (dev->info.canonical_on_host || !dev->ops->demo_apply) {
        dev->canonical_state = DT_CANONICAL_HOST;
        return DT_OK;
    }
    double t0 = dt_seconds();
    int exact = 1;
    dt_status st = dt_canonical_probe(dev, &exact);
    if (st != DT_OK)
        return dt_error_wrap(st, "demo_apply: checking that %s (%s) is exact: ", dev->info.spec,
                             dev->info.name);
    probe_key k;
    key_make(&k, &dev->info, dev->canonical_source);
    cache_store(&k, exact);
    if (exact) {
        dev->canonical_state = DT_CANONICAL_EXACT;
        return DT_OK;
    }
    dev->canonical_state = DT_CANONICAL_HOST;
    dt_canonical_on_host(&dev->info, PROBE_INEXACT_REASON);
    dt_log("%s (%s): the canonical DeMo update differs from the reference bits here (probe, "
           "%.1f s); it runs on the host for this device",
           dev->info.spec, dev->info.name, dt_seconds() - t0);
    return DT_OK;
}
