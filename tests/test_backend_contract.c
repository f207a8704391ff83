/* test_backend_contract: what the runtime demands of a backend, with fake
 * backends on host memory: an op a backend leaves out is refused by name
 * (never called through a NULL entry), and the canonical update's exactness
 * probe trusts an exact device, sends an inexact one to the host, says so
 * and remembers both. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "tests/test_util.h"

static int failures, checks;
#define EXPECT(got, want, what, f1, f2)                                                            \
    (checks++, failures += !test_status_is(__LINE__, (got), (want), (want), (what), (f1), (f2)))

/* ---- a backend that leaves ops out -------------------------------------------
 * A fake device on host memory whose table has the required entries, fill,
 * and nothing else: every other op must be refused by name (never called
 * through a NULL entry), and demo_apply must run on the host. */

typedef struct fake_buffer {
    dt_buffer base;
    unsigned char *data;
} fake_buffer;

static void fake_close(dt_device *dev) {
    free(dev);
}
static dt_status fake_sync(dt_device *dev) {
    (void)dev;
    return DT_OK;
}
static dt_status fake_buffer_alloc(dt_device *dev, size_t bytes, dt_buffer **out) {
    (void)dev;
    fake_buffer *b = calloc(1, sizeof *b);
    if (b) b->data = calloc(1, bytes);
    if (!b || !b->data) {
        free(b);
        return dt_error(DT_ERR_OOM, "fake: out of memory");
    }
    *out = &b->base;
    return DT_OK;
}
static void fake_buffer_free(dt_buffer *buf) {
    free(((fake_buffer *)buf)->data);
    free(buf);
}
static dt_status fake_upload(dt_buffer *dst, size_t offset, const void *src, size_t bytes) {
    memcpy(((fake_buffer *)dst)->data + offset, src, bytes);
    return DT_OK;
}
static dt_status fake_download(const dt_buffer *src, size_t offset, void *dst, size_t bytes) {
    memcpy(dst, ((const fake_buffer *)src)->data + offset, bytes);
    return DT_OK;
}
static dt_status fake_copy(dt_buffer *dst, size_t dst_offset, const dt_buffer *src,
                           size_t src_offset, size_t bytes) {
    memcpy(((fake_buffer *)dst)->data + dst_offset, ((const fake_buffer *)src)->data + src_offset,
           bytes);
    return DT_OK;
}
static int fake_fills;
static dt_status fake_fill(dt_device *dev, const dt_tensor *y, float value, int64_t n) {
    (void)dev;
    float *p = (float *)(((fake_buffer *)y->buf)->data + y->offset);
    for (int64_t i = 0; i < n; i++) p[i] = value;
    fake_fills++;
    return DT_OK;
}

static const dt_device_ops fake_ops = {
    .close = fake_close,
    .sync = fake_sync,
    .buffer_alloc = fake_buffer_alloc,
    .buffer_free = fake_buffer_free,
    .upload = fake_upload,
    .download = fake_download,
    .copy = fake_copy,
    .fill = fake_fill,
};

static dt_device *fake_open(const dt_device_ops *ops) {
    dt_device *dev = calloc(1, sizeof *dev);
    if (!dev) return NULL;
    dev->ops = ops;
    dt_device_info_init(&dev->info, "fake", 0);
    dt_strlcpy(dev->info.name, "Fake Device", sizeof dev->info.name);
    dt_device_info_set_ops(&dev->info, ops);
    return dev;
}

/* DT_ERR_UNSUPPORTED naming the entry point, the backend op and the device. */
static void expect_refused(int line, dt_status got, const char *op, const char *entry) {
    char what[96], quoted[64];
    snprintf(what, sizeof what, "%s on a backend without '%s'", op, entry);
    snprintf(quoted, sizeof quoted, "'%s'", entry);
    checks++;
    failures +=
        !test_status_is(line, got, DT_ERR_UNSUPPORTED, DT_ERR_UNSUPPORTED, what, op, quoted);
    if (got == DT_ERR_UNSUPPORTED &&
        (!strstr(dt_last_error(), "fake:0") || !strstr(dt_last_error(), "Fake Device"))) {
        failures++;
        printf("  FAIL line %d: %s: message \"%s\" does not name the device\n", line, what,
               dt_last_error());
    }
}
#define EXPECT_REFUSED(got, op, entry) expect_refused(__LINE__, (got), (op), (entry))

/* One canonical update on `dev` against dt_demo_apply_host on the host:
 * the inputs uploaded 64 bytes apart into a buffer of the device's own, the
 * result downloaded. *same is 1 when the bits match. */
typedef struct apply_case {
    const dt_tile_plan *plan;
    const int32_t *idx;
    const float *vals;
    int64_t n_entries, k, n_contrib;
    const float *recip, *f1, *f2, *w;
    int64_t n_recip, n_f1, n_f2, n_w;
    float lr, decay;
    dt_demo_update update;
} apply_case;

static dt_status apply_vs_host(dt_device *dev, const apply_case *c, int *same) {
    *same = 0;
    float want[64], got[64];
    if (c->n_w > 64) return dt_error(DT_ERR_INVALID, "apply_vs_host: at most 64 weights");
    memcpy(want, c->w, (size_t)c->n_w * 4);
    dt_demo_apply_host(c->plan, c->idx, c->vals, c->k, c->n_contrib, c->recip, c->f1, c->f2, want,
                       c->lr, c->decay, c->update);
    const void *src[6] = {c->idx, c->vals, c->recip, c->f1, c->f2, c->w};
    const int64_t n[6] = {c->n_entries, c->n_entries, c->n_recip, c->n_f1, c->n_f2, c->n_w};
    size_t at[6], end = 0;
    for (int i = 0; i < 6; i++) at[i] = end, end += ((size_t)n[i] * 4 + 63) / 64 * 64;
    dt_buffer *b = NULL;
    dt_status st = dt_buffer_alloc(dev, end, &b);
    for (int i = 0; st == DT_OK && i < 6; i++)
        st = dt_buffer_upload(b, at[i], src[i], (size_t)n[i] * 4);
    if (st == DT_OK)
        st = dt_demo_apply(dev, c->plan, dt_tensor_1d(b, at[0], DT_I32, n[0]),
                           dt_tensor_1d(b, at[1], DT_F32, n[1]), c->n_contrib,
                           dt_tensor_1d(b, at[2], DT_F32, n[2]),
                           dt_tensor_1d(b, at[3], DT_F32, n[3]),
                           dt_tensor_1d(b, at[4], DT_F32, n[4]),
                           dt_tensor_1d(b, at[5], DT_F32, n[5]), c->lr, c->decay, c->update);
    if (st == DT_OK) st = dt_buffer_download(b, at[5], got, (size_t)c->n_w * 4);
    if (b) dt_buffer_free(b);
    if (st == DT_OK) *same = memcmp(got, want, (size_t)c->n_w * 4) == 0;
    return st;
}

static void test_missing_ops(void) {
    printf("a backend that leaves ops out\n");
    dt_device *dev = fake_open(&fake_ops);
    dt_buffer *b = NULL;
    if (!dev || dt_buffer_alloc(dev, 4096, &b) != DT_OK) {
        failures++;
        printf("  FAIL: fake device: %s\n", dt_last_error());
        return;
    }
    /* Where each op runs, as `devices` reports it. */
    const dt_device_info *in = dt_device_get_info(dev);
    checks++;
    int fill = -1, apply = -1, add = -1;
    for (int op = 0; op < dt_op_count(); op++) {
        if (strcmp(dt_op_name(op), "fill") == 0) fill = op;
        if (strcmp(dt_op_name(op), "demo_apply") == 0) apply = op;
        if (strcmp(dt_op_name(op), "add") == 0) add = op;
    }
    if (fill < 0 || apply < 0 || add < 0 || dt_op_name(dt_op_count()) || dt_op_name(-1) ||
        in->ops_on_device != (uint64_t)1 << fill || in->ops_on_host != (uint64_t)1 << apply) {
        failures++;
        printf("  FAIL: op masks on device %#llx, on host %#llx (fill %d, demo_apply %d)\n",
               (unsigned long long)in->ops_on_device, (unsigned long long)in->ops_on_host, fill,
               apply);
    }

    dt_tensor v8 = dt_tensor_1d(b, 0, DT_F32, 8), w8 = dt_tensor_1d(b, 64, DT_F32, 8);
    EXPECT(dt_fill(dev, v8, 2.0f), DT_OK, "fill (provided)", NULL, NULL);
    checks++;
    if (fake_fills != 1) {
        failures++;
        printf("  FAIL: fill did not reach the backend\n");
    }
    EXPECT_REFUSED(dt_add(dev, v8, v8, w8), "add", "add");
    EXPECT_REFUSED(dt_scale(dev, v8, 2.0f, w8), "scale", "scale");
    EXPECT_REFUSED(dt_sum_squares(dev, v8, dt_tensor_1d(b, 128, DT_F32, 1)), "sum_squares",
                   "sum_squares");
    EXPECT_REFUSED(dt_matmul(dev, 0, 0, 1.0f, dt_tensor_2d(b, 0, DT_F32, 2, 2),
                             dt_tensor_2d(b, 16, DT_F32, 2, 2), 0.0f,
                             dt_tensor_2d(b, 32, DT_F32, 2, 2)),
                   "gemm", "gemm"); /* dt_matmul is dt_gemm */
    EXPECT_REFUSED(dt_rope_fwd(dev, dt_tensor_2d(b, 0, DT_F32, 2, 4),
                               dt_tensor_3d(b, 256, DT_F32, 2, 2, 2), 4, 4),
                   "rope_fwd", "rope");
    EXPECT_REFUSED(dt_rope_bwd(dev, dt_tensor_2d(b, 0, DT_F32, 2, 4),
                               dt_tensor_3d(b, 256, DT_F32, 2, 2, 2), 4, 4),
                   "rope_bwd", "rope");
    EXPECT_REFUSED(dt_demo_momentum(dev, v8, w8, 0.9f, 1.0f), "demo_momentum", "demo_momentum");
    /* Arguments are still checked first: a bad call is INVALID everywhere. */
    EXPECT(dt_add(dev, v8, dt_tensor_1d(b, 0, DT_F32, 7), w8), DT_ERR_INVALID,
           "add with mismatched sizes", "add", "[7]");
    /* dt_copy is the required copy entry. */
    EXPECT(dt_copy(dev, v8, w8), DT_OK, "copy", NULL, NULL);

    /* The canonical update without a device entry runs on the host: the
     * same bits as dt_demo_apply_host. A 4 x 4 tensor in 2 x 2 tiles. */
    dt_tile_plan plan;
    dt_demo_tile_plan(2, (int64_t[]){4, 4}, 2, &plan);
    int32_t idx[2 * 4 * 2];
    float vals[2 * 4 * 2], recip[3], f1[4], f2[4], w[16];
    for (int i = 0; i < 16; i++) {
        idx[i] = (i * 3 + i / 2) % 4;
        vals[i] = 0.1f * (float)(i % 5) - 0.2f;
        w[i] = 0.01f * (float)i;
    }
    for (int i = 0; i < 16; i += 2)
        if (idx[i] == idx[i + 1]) idx[i + 1] = (idx[i] + 1) % 4;
    dt_recip_table(2, recip);
    dt_dct_basis(2, f1);
    dt_dct_basis(2, f2);
    const apply_case c = {&plan,
                          idx,
                          vals,
                          16,
                          2,
                          2,
                          recip,
                          f1,
                          f2,
                          w,
                          3,
                          4,
                          4,
                          16,
                          1e-2f,
                          0.99f,
                          DT_DEMO_UPDATE_SIGN};
    int same = 0;
    EXPECT(apply_vs_host(dev, &c, &same), DT_OK,
           "demo_apply without a device entry (the host fallback)", NULL, NULL);
    checks++;
    if (!same) {
        failures++;
        printf("  FAIL: demo_apply's host fallback differs from dt_demo_apply_host\n");
    }
    dt_buffer_free(b);
    dt_device_close(dev);
}

/* ---- the canonical update's exactness probe ----------------------------------
 * Fake devices whose demo_apply runs the host reference on their memory,
 * once as is (exact) and once flushing subnormal results to zero (as a GPU
 * may): the probe must trust the first and send the second to the host,
 * say so, and remember both per device, driver and source. */

static int fake_applies;
static float *fake_f32(const dt_tensor *t) {
    return (float *)(((fake_buffer *)t->buf)->data + t->offset);
}
static dt_status fake_apply(const dt_tile_plan *plan, const dt_tensor *idx, const dt_tensor *vals,
                            int64_t k, int64_t n_contrib, const dt_tensor *recip,
                            const dt_tensor *f1, const dt_tensor *f2, const dt_tensor *w, float lr,
                            float decay, dt_demo_update update, int flush) {
    fake_applies++;
    float *wp = fake_f32(w);
    dt_status st =
        dt_demo_apply_host(plan, (const int32_t *)fake_f32(idx), fake_f32(vals), k, n_contrib,
                           fake_f32(recip), fake_f32(f1), fake_f32(f2), wp, lr, decay, update);
    for (int64_t i = 0; flush && i < dt_tensor_numel(w); i++)
        if (wp[i] != 0.0f && fabsf(wp[i]) < 0x1p-126f) wp[i] = copysignf(0.0f, wp[i]);
    return st;
}
static dt_status fake_apply_exact(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                                  const dt_tensor *vals, int64_t k, int64_t n_contrib,
                                  const dt_tensor *recip, const dt_tensor *f1, const dt_tensor *f2,
                                  const dt_tensor *w, float lr, float decay,
                                  dt_demo_update update) {
    (void)dev;
    return fake_apply(plan, idx, vals, k, n_contrib, recip, f1, f2, w, lr, decay, update, 0);
}
static dt_status fake_apply_ftz(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                                const dt_tensor *vals, int64_t k, int64_t n_contrib,
                                const dt_tensor *recip, const dt_tensor *f1, const dt_tensor *f2,
                                const dt_tensor *w, float lr, float decay, dt_demo_update update) {
    (void)dev;
    return fake_apply(plan, idx, vals, k, n_contrib, recip, f1, f2, w, lr, decay, update, 1);
}

/* One update whose result has subnormals, on `dev`; 1 when it gave the
 * host's bits. */
static int apply_once(dt_device *dev) {
    dt_tile_plan plan;
    dt_demo_tile_plan(1, (int64_t[]){4}, 4, &plan);
    int32_t idx[2] = {0, 2};
    float vals[2] = {0x1p-130f, -0x1p-128f}, recip[2], f1[1] = {1.0f}, f2[16];
    float w[4] = {0x1p-127f, 0.5f, -0x1p-129f, 1.0f};
    dt_recip_table(1, recip);
    dt_dct_basis(4, f2);
    const apply_case c = {&plan,
                          idx,
                          vals,
                          2,
                          2,
                          1,
                          recip,
                          f1,
                          f2,
                          w,
                          2,
                          1,
                          16,
                          4,
                          0.75f,
                          0.75f,
                          DT_DEMO_UPDATE_SCALED};
    int same = 0;
    dt_status st = apply_vs_host(dev, &c, &same);
    if (st != DT_OK) printf("  demo_apply: %s\n", dt_last_error());
    return st == DT_OK && same;
}

static void check(int line, int ok, const char *what) {
    checks++;
    if (ok) return;
    failures++;
    printf("  FAIL line %d: %s\n", line, what);
}
#define CHECK(ok, what) check(__LINE__, (ok), (what))

static void test_probe(void) {
    printf("the canonical update's exactness probe\n");
    /* A private cache folder: the outcomes below are of fake devices. */
    char dir[] = "/tmp/distro_probe_XXXXXX";
    if (!mkdtemp(dir)) {
        failures++;
        printf("  FAIL: mkdtemp\n");
        return;
    }
    setenv("DISTRO_CACHE_DIR", dir, 1);
    const uint64_t apply_bit = (uint64_t)1 << DT_OP_demo_apply;
    dt_device_ops exact_ops = fake_ops, ftz_ops = fake_ops;
    exact_ops.demo_apply = fake_apply_exact;
    ftz_ops.demo_apply = fake_apply_ftz;

    for (int source = 0; source <= 1; source++) {
        /* An exact device: probed at the first update, then trusted. */
        dt_device *dev = fake_open(&exact_ops);
        dev->canonical_source = source ? 0x1234 : 0;
        dt_canonical_open(dev);
        fake_applies = 0;
        CHECK(apply_once(dev), "exact fake device: the update's bits");
        CHECK(fake_applies > 4, "exact fake device: no probe at the first update");
        CHECK(!dev->info.canonical_on_host && (dev->info.ops_on_device & apply_bit) &&
                  dev->canonical_state == DT_CANONICAL_EXACT,
              "exact fake device: its update is not trusted");
        fake_applies = 0;
        CHECK(apply_once(dev) && fake_applies == 1, "exact fake device: probed twice");
        dt_device_close(dev);

        /* A device that flushes subnormals: the host takes over, reported. */
        dev = fake_open(&ftz_ops);
        dev->canonical_source = source ? 0x1234 : 0;
        dt_strlcpy(dev->info.driver, "flushing driver", sizeof dev->info.driver);
        dt_device_info_set_ops(&dev->info, &ftz_ops);
        dt_canonical_open(dev);
        fake_applies = 0;
        CHECK(apply_once(dev), "flushing fake device: the update's bits (host fallback)");
        CHECK(fake_applies > 0, "flushing fake device: not probed");
        CHECK(dev->info.canonical_on_host && (dev->info.ops_on_host & apply_bit) &&
                  !(dev->info.ops_on_device & apply_bit) &&
                  strstr(dev->info.note, "canonical DeMo update on the host"),
              "flushing fake device: the host fallback is not reported");
        fake_applies = 0;
        CHECK(apply_once(dev) && fake_applies == 0,
              "flushing fake device: its own update ran after failing the probe");
        dt_device_close(dev);
    }

    /* Cached per device, driver and source: a second process (here: a
     * second open) decides at open without probing, and describing the
     * device without opening it shows a failed probe. */
    dt_device *dev = fake_open(&exact_ops);
    dev->canonical_source = 0x1234;
    dt_canonical_open(dev);
    CHECK(dev->canonical_state == DT_CANONICAL_EXACT, "exact outcome not cached");
    fake_applies = 0;
    CHECK(apply_once(dev) && fake_applies == 1, "cached exact device probed again");
    dt_device_close(dev);
    dev = fake_open(&ftz_ops);
    dt_strlcpy(dev->info.driver, "flushing driver", sizeof dev->info.driver);
    dev->canonical_source = 0x1234;
    dt_canonical_open(dev);
    CHECK(dev->canonical_state == DT_CANONICAL_HOST && dev->info.canonical_on_host,
          "inexact outcome not cached");
    dt_device_close(dev);
    dt_device_info info;
    dt_device_info_init(&info, "fake", 0);
    dt_strlcpy(info.name, "Fake Device", sizeof info.name);
    dt_strlcpy(info.driver, "flushing driver", sizeof info.driver);
    dt_canonical_lookup(&info, 0x1234);
    CHECK(info.canonical_on_host, "a cached failed probe is not seen without opening");
    dt_strlcpy(info.driver, "flushing driver 2", sizeof info.driver);
    info.canonical_on_host = false;
    dt_canonical_lookup(&info, 0x1234);
    CHECK(!info.canonical_on_host, "another driver version shares the outcome");
    dt_strlcpy(info.driver, "flushing driver", sizeof info.driver);
    dt_canonical_lookup(&info, 0x1235);
    CHECK(!info.canonical_on_host, "another source shares the outcome");

    /* A damaged cache file is ignored (probed again), never trusted. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "for f in %s/canonical-*.txt; do printf 'x' >> \"$f\"; done", dir);
    CHECK(system(cmd) == 0, "appending to the cache files");
    dev = fake_open(&ftz_ops);
    dt_strlcpy(dev->info.driver, "flushing driver", sizeof dev->info.driver);
    dev->canonical_source = 0x1234;
    dt_canonical_open(dev);
    CHECK(dev->canonical_state == DT_CANONICAL_UNCHECKED, "a damaged cache entry was used");
    dt_device_close(dev);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", dir);
    unsetenv("DISTRO_CACHE_DIR");
}

int main(void) {
    test_missing_ops();
    test_probe();
    printf("%s: %d of %d checks failed\n", failures ? "FAIL" : "PASS", failures, checks);
    return failures ? 1 : 0;
}
