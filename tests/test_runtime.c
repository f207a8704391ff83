/* test_runtime: the runtime's contract outside the ops' arithmetic: device
 * specs and their errors, buffer bounds, view validation, and that a
 * rejected op names itself and the shapes in its message. What the runtime
 * demands of a backend (ops left out, the exactness probe) is in
 * test_backend_contract.c. */
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "tests/test_util.h"

static int failures, checks;

#define EXPECT(got, want, what, f1, f2)                                                            \
    (checks++, failures += !test_status_is(__LINE__, (got), (want), (want), (what), (f1), (f2)))

static void test_specs(void) {
    printf("device specs\n");
    dt_device *dev = NULL;
    EXPECT(dt_device_open("cpu:x", &dev), DT_ERR_INVALID, "open cpu:x", "cpu:x", NULL);
    EXPECT(dt_device_open("opencl:", &dev), DT_ERR_INVALID, "open opencl:", "opencl:", NULL);
    EXPECT(dt_device_open("cpu:-1", &dev), DT_ERR_INVALID, "open cpu:-1", "cpu:-1", NULL);
    EXPECT(dt_device_open("cpu:3", &dev), DT_ERR_NOT_FOUND, "open cpu:3", "cpu:3", NULL);
    /* error.h lists "no such backend" under NOT_FOUND while a spec that is
     * not of the documented forms is also a bad argument: accept both. */
    checks++;
    failures += !test_status_is(__LINE__, dt_device_open("foo:0", &dev), DT_ERR_INVALID,
                                DT_ERR_NOT_FOUND, "open foo:0", "foo:0", NULL);
    if (dev) {
        failures++;
        printf("  FAIL: a failed open left a device pointer\n");
        dev = NULL;
    }
    /* A known backend that this build does not contain. */
    static const char *known[] = {"opencl", "vulkan", "cuda"};
    int tested_missing = 0;
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
        int compiled = 0;
        for (int b = 0; b < dt_backend_count(); b++)
            if (strcmp(dt_backend_name(b), known[k]) == 0) compiled = 1;
        char spec[32];
        snprintf(spec, sizeof spec, "%s:0", known[k]);
        if (!compiled) {
            EXPECT(dt_device_open(spec, &dev), DT_ERR_UNAVAILABLE, spec, spec, "not compiled");
            tested_missing = 1;
        } else {
            int count = 0;
            char why[256];
            int b = 0;
            while (strcmp(dt_backend_name(b), known[k]) != 0) b++;
            if (dt_backend_devices(b, &count, why, sizeof why) == DT_OK && count == 0)
                EXPECT(dt_device_open(spec, &dev), DT_ERR_UNAVAILABLE, spec, spec, NULL);
            snprintf(spec, sizeof spec, "%s:%d", known[k], count + 7);
            EXPECT(dt_device_open(spec, &dev), count ? DT_ERR_NOT_FOUND : DT_ERR_UNAVAILABLE, spec,
                   spec, NULL);
        }
    }
    if (!tested_missing) printf("  (every backend is compiled in: no missing-backend check)\n");
}

/* Device options: BACKEND[:N][:OPTION=VALUE]..., checked against the
 * backend's options before anything opens, errors naming the device, the
 * option and what it takes. */
static void test_device_options(void) {
    dt_device *dev = NULL;
    EXPECT(dt_device_check_spec("cpu:gemm=fast"), DT_ERR_INVALID, "cpu:gemm=fast", "gemm",
           "auto, blas or own");
    EXPECT(dt_device_check_spec("cpu:gemmm=own"), DT_ERR_INVALID, "cpu:gemmm=own", "'gemmm'",
           "threads=1..1024");
    EXPECT(dt_device_check_spec("cpu:threads=0"), DT_ERR_INVALID, "cpu:threads=0", "threads",
           "1 to 1024");
    EXPECT(dt_device_check_spec("cpu:threads=2x"), DT_ERR_INVALID, "cpu:threads=2x", "'2x'", NULL);
    EXPECT(dt_device_check_spec("cpu:own"), DT_ERR_INVALID, "cpu:own", "'own'", "OPTION=VALUE");
    EXPECT(dt_device_check_spec("cpu:gemm=own:gemm=blas"), DT_ERR_INVALID, "gemm given twice",
           "twice", NULL);
    EXPECT(dt_device_check_spec("cpu:gemm=own:"), DT_ERR_INVALID, "a trailing ':'", "empty", NULL);
    EXPECT(dt_device_check_spec("cpu:gemm=own:0"), DT_ERR_INVALID, "a number after an option",
           "device number", NULL);
    EXPECT(dt_device_check_spec("auto:threads=2"), DT_ERR_INVALID, "auto with an option",
           "auto takes no options", NULL);
    EXPECT(dt_device_check_spec("cpu:0:threads=2:gemm=own"), DT_OK, "cpu:0:threads=2:gemm=own",
           NULL, NULL);
    EXPECT(dt_device_open("cpu:threads=1:gemm=own", &dev), DT_OK, "open cpu:threads=1:gemm=own",
           NULL, NULL);
    if (dev) {
        const dt_device_info *di = dt_device_get_info(dev);
        checks++;
        if (strcmp(di->options, "threads=1:gemm=own") != 0 || di->compute_units != 1 ||
            !strstr(di->note, "own")) {
            failures++;
            printf("  FAIL: cpu:threads=1:gemm=own opened with options '%s', %d threads, note "
                   "'%s'\n",
                   di->options, di->compute_units, di->note);
        }
        /* The caller's OpenMP thread count is left as it was. */
        dt_buffer *b = NULL;
        int before = -1, after = -2;
#ifdef _OPENMP
        before = omp_get_max_threads();
#endif
        if (dt_buffer_alloc(dev, 1 << 20, &b) == DT_OK) {
            EXPECT(dt_fill(dev, dt_tensor_1d(b, 0, DT_F32, 1 << 18), 1.0f), DT_OK,
                   "fill on a threads=1 device", NULL, NULL);
            dt_buffer_free(b);
        }
#ifdef _OPENMP
        after = omp_get_max_threads();
#else
        after = before;
#endif
        checks++;
        if (before != after) {
            failures++;
            printf("  FAIL: an op on a threads=1 device left the caller's OpenMP threads at %d "
                   "(was %d)\n",
                   after, before);
        }
        dt_device_close(dev);
        dev = NULL;
    }
    /* Every backend's options are listed, and a value outside them is refused. */
    for (int b = 0; b < dt_backend_count(); b++) {
        const char *name = NULL, *help = NULL;
        char values[64];
        for (int i = 0; dt_backend_option(b, i, &name, values, sizeof values, &help); i++) {
            checks++;
            if (!name || !*name || !values[0] || !help || !*help) {
                failures++;
                printf("  FAIL: option %d of %s is incomplete\n", i, dt_backend_name(b));
                continue;
            }
            char spec[128];
            snprintf(spec, sizeof spec, "%s:0:%s=nonsense", dt_backend_name(b), name);
            EXPECT(dt_device_check_spec(spec), DT_ERR_INVALID, spec, name, "nonsense");
        }
        checks++;
        if (dt_backend_option(b, -1, &name, NULL, 0, NULL)) {
            failures++;
            printf("  FAIL: option -1 of %s exists\n", dt_backend_name(b));
        }
    }
}

/* The backend registry, and every device found opening and syncing. */
static void test_registry(void) {
    dt_device *dev = NULL;
    checks++;
    if (dt_backend_count() < 1 || strcmp(dt_backend_name(0), "cpu") != 0 ||
        dt_backend_name(-1) != NULL || dt_backend_name(dt_backend_count()) != NULL) {
        failures++;
        printf("  FAIL: backend registry: count %d, first '%s'\n", dt_backend_count(),
               dt_backend_name(0) ? dt_backend_name(0) : "(null)");
    }
    int count = -1;
    EXPECT(dt_backend_devices(dt_backend_count(), &count, NULL, 0), DT_ERR_NOT_FOUND,
           "devices of a backend number past the end", NULL, NULL);
    dt_device_info info;
    EXPECT(dt_backend_device_info(0, 5, &info), DT_ERR_NOT_FOUND, "info of cpu device 5", NULL,
           NULL);
    EXPECT(dt_backend_device_info(0, 0, &info), DT_OK, "info of cpu device 0", NULL, NULL);

    for (int i = 0; i < 3; i++) {
        const char *spec = i == 0 ? "cpu" : i == 1 ? "cpu:0" : "auto";
        EXPECT(dt_device_open(spec, &dev), DT_OK, spec, NULL, NULL);
        if (dev) {
            const dt_device_info *di = dt_device_get_info(dev);
            printf("  %s opened %s (%s, %s)\n", spec, di->spec, di->name,
                   dt_device_type_name(di->type));
            checks++;
            if (!di->spec[0] || !di->backend[0]) {
                failures++;
                printf("  FAIL: %s: empty spec or backend in the device info\n", spec);
            }
            EXPECT(dt_device_sync(dev), DT_OK, "sync", NULL, NULL);
            dt_device_close(dev);
            dev = NULL;
        }
    }
    dt_error_clear();
    checks++;
    if (dt_last_error()[0]) {
        failures++;
        printf("  FAIL: dt_error_clear left \"%s\"\n", dt_last_error());
    }
}

static void test_buffers(dt_device *dev) {
    printf("buffers\n");
    dt_buffer *b = (dt_buffer *)1, *b2 = NULL;
    EXPECT(dt_buffer_alloc(dev, 0, &b), DT_ERR_INVALID, "alloc of 0 bytes", NULL, NULL);
    checks++;
    if (b) {
        failures++;
        printf("  FAIL: alloc of 0 bytes left a buffer pointer\n");
    }
    dt_tensor t;
    EXPECT(dt_tensor_alloc(dev, DT_F32, 2, (int64_t[]){4, 0}, &t), DT_ERR_INVALID,
           "tensor_alloc [4, 0]", NULL, NULL);
    EXPECT(dt_tensor_alloc(dev, DT_F32, 0, (int64_t[]){4}, &t), DT_ERR_INVALID,
           "tensor_alloc of 0 dimensions", NULL, NULL);
    EXPECT(dt_buffer_alloc(dev, 64, &b), DT_OK, "alloc of 64 bytes", NULL, NULL);
    EXPECT(dt_buffer_alloc(dev, 64, &b2), DT_OK, "alloc of 64 bytes", NULL, NULL);
    if (!b || !b2) return;
    unsigned char in[80], out[80];
    for (int i = 0; i < 80; i++) in[i] = (unsigned char)(i * 7 + 1);
    EXPECT(dt_buffer_upload(b, 0, in, 65), DT_ERR_INVALID, "upload 65 bytes into 64", NULL, NULL);
    EXPECT(dt_buffer_upload(b, 60, in, 8), DT_ERR_INVALID, "upload [60, 68) into 64", NULL, NULL);
    EXPECT(dt_buffer_upload(b, SIZE_MAX, in, 2), DT_ERR_INVALID, "upload at SIZE_MAX", NULL, NULL);
    EXPECT(dt_buffer_upload(b, 8, in, SIZE_MAX - 4), DT_ERR_INVALID, "upload of SIZE_MAX-4 bytes",
           NULL, NULL);
    EXPECT(dt_buffer_download(b, 64, out, 1), DT_ERR_INVALID, "download [64, 65) from 64", NULL,
           NULL);
    EXPECT(dt_buffer_download(b, 1, out, 64), DT_ERR_INVALID, "download [1, 65) from 64", NULL,
           NULL);
    EXPECT(dt_buffer_copy(b2, 0, b, 32, 33), DT_ERR_INVALID, "copy past the source end", NULL,
           NULL);
    EXPECT(dt_buffer_copy(b2, 40, b, 0, 32), DT_ERR_INVALID, "copy past the destination end", NULL,
           NULL);
    EXPECT(dt_buffer_copy(b, 8, b, 0, 16), DT_ERR_INVALID, "overlapping copy in one buffer",
           "overlap", NULL);
    /* In-bounds transfers move the right bytes. */
    EXPECT(dt_buffer_upload(b, 0, in, 64), DT_OK, "upload 64 bytes", NULL, NULL);
    EXPECT(dt_buffer_upload(b, 64, in, 0), DT_OK, "upload 0 bytes at the end", NULL, NULL);
    EXPECT(dt_buffer_copy(b2, 4, b, 8, 40), DT_OK, "copy [8, 48) to [4, 44)", NULL, NULL);
    EXPECT(dt_buffer_copy(b, 0, b, 32, 32), DT_OK, "copy of disjoint halves of one buffer", NULL,
           NULL);
    memset(out, 0, sizeof out);
    EXPECT(dt_buffer_download(b2, 4, out, 40), DT_OK, "download [4, 44)", NULL, NULL);
    checks++;
    if (memcmp(out, in + 8, 40) != 0) {
        failures++;
        printf("  FAIL: upload / copy / download moved the wrong bytes\n");
    }
    EXPECT(dt_buffer_download(b, 0, out, 32), DT_OK, "download [0, 32)", NULL, NULL);
    checks++;
    if (memcmp(out, in + 32, 32) != 0) {
        failures++;
        printf("  FAIL: a copy within one buffer moved the wrong bytes\n");
    }
    checks++;
    if (dt_buffer_size(b) != 64 || dt_buffer_device(b) != dev) {
        failures++;
        printf("  FAIL: buffer size %zu or device wrong\n", dt_buffer_size(b));
    }

    /* Views: inside the buffer, aligned, with no empty dimension. */
    dt_tensor v = dt_tensor_1d(b, 8, DT_F32, 16);
    EXPECT(dt_fill(dev, v, 1.0f), DT_ERR_INVALID, "fill of [16] at offset 8 in 64 bytes", "fill",
           "overruns");
    v = dt_tensor_1d(b, 2, DT_F32, 4);
    EXPECT(dt_fill(dev, v, 1.0f), DT_ERR_INVALID, "fill of a view at offset 2", "fill", NULL);
    v = dt_tensor_2d(b, 0, DT_F32, 4, 0);
    EXPECT(dt_fill(dev, v, 1.0f), DT_ERR_INVALID, "fill of [4, 0]", "fill", NULL);
    v = dt_tensor_1d(b, SIZE_MAX - 3, DT_F32, 1);
    EXPECT(dt_fill(dev, v, 1.0f), DT_ERR_INVALID, "fill of a view at offset SIZE_MAX-3", "fill",
           NULL);
    v = dt_tensor_1d(b, 0, DT_I32, 16);
    EXPECT(dt_fill(dev, v, 1.0f), DT_ERR_INVALID, "fill of an i32 view", "fill", "i32");
    v = dt_tensor_1d(b, 0, DT_F32, 16);
    v.ndim = 0;
    EXPECT(dt_fill(dev, v, 1.0f), DT_ERR_INVALID, "fill of a 0-D view", "fill", NULL);
    v = dt_tensor_1d(NULL, 0, DT_F32, 16);
    EXPECT(dt_fill(dev, v, 1.0f), DT_ERR_INVALID, "fill of a view with no buffer", "fill", NULL);
    v = dt_tensor_2d(b, 16, DT_F32, 4, 3);
    EXPECT(dt_fill(dev, v, 2.0f), DT_OK, "fill of [4, 3] at offset 16, ending at the end", NULL,
           NULL);
    float f[16];
    if (dt_buffer_download(b, 0, f, 64) == DT_OK) {
        checks++;
        int ok = 1;
        for (int i = 0; i < 16; i++) ok &= f[i] == (i >= 4 ? 2.0f : f[i]);
        if (!ok || memcmp(f, in + 32, 16) != 0) {
            failures++;
            printf("  FAIL: fill wrote outside its view or not all of it\n");
        }
    }
    dt_buffer_free(b);
    dt_buffer_free(b2);
}

/* ---- op argument validation ------------------------------------------------- */

static dt_device *g_dev;

/* INVALID, and a message naming the op, a shape fragment and the device. */
static void expect_op(int line, dt_status got, const char *op, const char *frag) {
    char what[96];
    snprintf(what, sizeof what, "%s with %s", op, frag ? frag : "a bad argument");
    checks++;
    failures += !test_status_is(line, got, DT_ERR_INVALID, DT_ERR_INVALID, what, op, frag);
    if (got == DT_ERR_INVALID && !strstr(dt_last_error(), dt_device_get_info(g_dev)->spec)) {
        failures++;
        printf("  FAIL line %d: %s: message \"%s\" does not name the device\n", line, what,
               dt_last_error());
    }
}
#define EXPECT_OP(got, op, frag) expect_op(__LINE__, (got), (op), (frag))

static dt_buffer *g_buf;
static dt_tensor F(int ndim, int64_t d0, int64_t d1, int64_t d2) {
    return dt_tensor_nd(g_buf, 0, DT_F32, ndim, (int64_t[]){d0, d1, d2});
}
static dt_tensor I(int ndim, int64_t d0, int64_t d1, int64_t d2) {
    return dt_tensor_nd(g_buf, 0, DT_I32, ndim, (int64_t[]){d0, d1, d2});
}

/* DeMo ops on a [12, 20] tensor cut in 4 x 5 tiles (chunk 5): 12 tiles of 20. */
static void test_validation_demo(dt_device *dev) {
    dt_tile_plan plan;
    dt_demo_tile_plan(2, (int64_t[]){12, 20}, 5, &plan);
    dt_tensor x = F(2, 12, 20, 0), f1 = F(2, 4, 4, 0), f2 = F(2, 5, 5, 0);
    EXPECT_OP(dt_demo_momentum(dev, x, F(2, 12, 19, 0), 0.9f, 1.0f), "demo_momentum", "[12, 19]");
    EXPECT_OP(dt_demo_encode(dev, &plan, x, f1, f2, F(2, 12, 19, 0)), "demo_encode", "[12, 19]");
    EXPECT_OP(dt_demo_encode(dev, &plan, x, F(2, 5, 5, 0), f2, F(2, 12, 20, 0)), "demo_encode",
              "f1");
    dt_tile_plan broken = plan;
    broken.tile_size = 21;
    EXPECT_OP(dt_demo_encode(dev, &broken, x, f1, f2, F(2, 12, 20, 0)), "demo_encode", "plan");
    EXPECT_OP(dt_demo_encode(dev, NULL, x, f1, f2, F(2, 12, 20, 0)), "demo_encode", "plan");
    EXPECT_OP(dt_demo_topk(dev, F(2, 12, 20, 0), 0, I(2, 12, 1, 0), F(2, 12, 1, 0)), "demo_topk",
              "k = 0");
    EXPECT_OP(dt_demo_topk(dev, F(2, 12, 20, 0), 21, I(2, 12, 21, 0), F(2, 12, 21, 0)), "demo_topk",
              "k = 21");
    EXPECT_OP(dt_demo_topk(dev, F(2, 12, 20, 0), 3, F(2, 12, 3, 0), F(2, 12, 3, 0)), "demo_topk",
              "i32");
    EXPECT_OP(dt_demo_decode_sub(dev, &plan, I(2, 11, 3, 0), F(2, 11, 3, 0), f1, f2, x),
              "demo_decode_sub", "[11, 3]");
    EXPECT_OP(dt_demo_decode_sub(dev, &plan, I(2, 12, 3, 0), F(2, 12, 4, 0), f1, f2, x),
              "demo_decode_sub", "vals");
    dt_tensor i3 = I(3, 2, 12, 3), v3 = F(3, 2, 12, 3), rc = F(1, 3, 0, 0);
    EXPECT_OP(
        dt_demo_apply(dev, &plan, i3, v3, 0, rc, f1, f2, x, 1e-3f, 0.999f, DT_DEMO_UPDATE_SIGN),
        "demo_apply", "0 contributions");
    EXPECT_OP(dt_demo_apply(dev, &plan, i3, v3, 2, F(1, 2, 0, 0), f1, f2, x, 1e-3f, 0.999f,
                            DT_DEMO_UPDATE_SIGN),
              "demo_apply", "recip");
    EXPECT_OP(dt_demo_apply(dev, &plan, i3, v3, 2, rc, f1, f2, x, NAN, 0.999f, DT_DEMO_UPDATE_SIGN),
              "demo_apply", "lr");
    EXPECT_OP(dt_demo_apply(dev, &plan, i3, v3, 2, rc, f1, f2, F(2, 12, 21, 0), 1e-3f, 0.999f,
                            DT_DEMO_UPDATE_SIGN),
              "demo_apply", "[12, 21]");
    /* An update rule this build does not know must not reach a backend,
     * which would pick one of its own (each tests for one rule). */
    EXPECT_OP(dt_demo_apply(dev, &plan, i3, v3, 2, rc, f1, f2, x, 1e-3f, 0.999f, (dt_demo_update)7),
              "demo_apply", "update rule 7");
}

/* Sizes whose products do not fit in 64 bits are refused, never wrapped to
 * small ones that pass the bounds checks (each of these crashed: a write
 * far outside the buffer, a division by zero, an allocation rounded to 0). */
static void test_validation_sizes(dt_device *dev) {
    const int64_t huge = (int64_t)1 << 62;
    EXPECT_OP(dt_fill(dev, F(1, huge + 1, 0, 0), 1.0f), "fill", "overruns");
    EXPECT_OP(dt_fill(dev, F(2, huge, 8, 0), 1.0f), "fill", "overruns");
    dt_gemm_desc g = {.m = 2, .n = 1, .k = 1, .alpha = 1.0f, .lda = INT64_MAX};
    dt_tensor a = F(2, 2, 1, 0);
    EXPECT_OP(dt_gemm(dev, &g, a, a, a), "gemm", "A");
    g = (dt_gemm_desc){.m = 2, .n = 1, .k = 1, .alpha = 1.0f, .batch = 2, .stride_c = huge};
    EXPECT_OP(dt_gemm(dev, &g, a, a, a), "gemm", "C");
    dt_tile_plan plan;
    dt_demo_tile_plan(2, (int64_t[]){12, 20}, 5, &plan);
    EXPECT_OP(dt_demo_apply(dev, &plan, I(3, 2, 12, 3), F(3, 2, 12, 3), huge, F(1, 3, 0, 0),
                            F(2, 4, 4, 0), F(2, 5, 5, 0), F(2, 12, 20, 0), 1e-3f, 0.999f,
                            DT_DEMO_UPDATE_SIGN),
              "demo_apply", "contributions");
    dt_buffer *b = NULL;
    checks++;
    if (dt_buffer_alloc(dev, SIZE_MAX - 8, &b) != DT_ERR_OOM || b) {
        failures++;
        printf("  FAIL: a buffer of SIZE_MAX - 8 bytes: %s\n", b ? "allocated" : dt_last_error());
        dt_buffer_free(b);
    }
    dt_tensor t;
    checks++;
    if (dt_tensor_alloc(dev, DT_F32, 1, (int64_t[]){huge - 1}, &t) == DT_OK) {
        failures++;
        printf("  FAIL: a tensor of 2^62 - 1 floats was allocated\n");
        dt_tensor_free(&t);
    }
    /* A view claiming 30 dimensions is described by the four it can have. */
    dt_tensor odd = F(2, 3, 4, 0);
    odd.ndim = 30;
    char text[128];
    checks++;
    if (strcmp(dt_tensor_str(&odd, text, sizeof text), "[3, 4, 0, 0] f32") != 0) {
        failures++;
        printf("  FAIL: a view of ndim 30 prints as \"%s\"\n", text);
    }
}

static void test_validation(dt_device *dev) {
    printf("op argument validation\n");
    g_dev = dev;
    if (dt_buffer_alloc(dev, 1 << 16, &g_buf) != DT_OK) {
        failures++;
        printf("  FAIL: alloc: %s\n", dt_last_error());
        return;
    }
    dt_tensor none;
    memset(&none, 0, sizeof none);
    dt_tensor x48 = F(2, 4, 8, 0), w8 = F(1, 8, 0, 0), r4 = F(1, 4, 0, 0);
    EXPECT_OP(dt_rmsnorm_fwd(dev, x48, F(1, 7, 0, 0), x48, r4, 1e-5f), "rmsnorm_fwd", "[7]");
    EXPECT_OP(dt_rmsnorm_fwd(dev, x48, w8, x48, F(1, 5, 0, 0), 1e-5f), "rmsnorm_fwd", "[5]");
    EXPECT_OP(dt_rmsnorm_fwd(dev, x48, w8, F(2, 4, 7, 0), r4, 1e-5f), "rmsnorm_fwd", "[4, 7]");
    EXPECT_OP(dt_rmsnorm_fwd(dev, x48, w8, x48, r4, -1.0f), "rmsnorm_fwd", "eps");
    EXPECT_OP(dt_rmsnorm_bwd(dev, x48, w8, r4, x48, x48, F(1, 9, 0, 0)), "rmsnorm_bwd", "[9]");

    dt_gemm_desc g = {0, 0, 4, 4, 4, 1.0f, 0.0f, 0, 0, 0, 1, 0, 0, 0};
    dt_tensor a16 = F(1, 16, 0, 0);
    EXPECT_OP(dt_gemm(dev, &g, F(1, 15, 0, 0), a16, a16), "gemm", "A");
    EXPECT_OP(dt_gemm(dev, &g, a16, a16, F(2, 3, 4, 0)), "gemm", "C");
    g.m = 0;
    EXPECT_OP(dt_gemm(dev, &g, a16, a16, a16), "gemm", "m, n, k");
    g.m = 4;
    g.lda = 3;
    EXPECT_OP(dt_gemm(dev, &g, a16, a16, a16), "gemm", "row stride");
    g.lda = 0;
    g.batch = 2;
    g.stride_c = 1;
    EXPECT_OP(dt_gemm(dev, &g, F(1, 32, 0, 0), F(1, 32, 0, 0), F(1, 32, 0, 0)), "gemm", "overlap");
    g.batch = 1;
    g.stride_c = 0;
    g.alpha = NAN;
    EXPECT_OP(dt_gemm(dev, &g, a16, a16, a16), "gemm", "alpha");
    EXPECT_OP(dt_gemm(dev, NULL, a16, a16, a16), "gemm", NULL);
    EXPECT_OP(dt_matmul(dev, 0, 0, 1.0f, F(2, 3, 4, 0), F(2, 5, 6, 0), 0.0f, F(2, 3, 6, 0)),
              "matmul", "[5, 6]");
    EXPECT_OP(dt_matmul(dev, 0, 0, 1.0f, F(2, 3, 4, 0), F(2, 4, 6, 0), 0.0f, F(2, 6, 3, 0)),
              "matmul", "[6, 3]");

    EXPECT_OP(dt_embedding_fwd(dev, F(1, 5, 0, 0), F(2, 10, 4, 0), F(2, 5, 4, 0)), "embedding_fwd",
              "i32");
    EXPECT_OP(dt_embedding_fwd(dev, I(1, 5, 0, 0), F(2, 10, 4, 0), F(2, 5, 3, 0)), "embedding_fwd",
              "[5, 3]");
    EXPECT_OP(dt_embedding_bwd(dev, I(1, 5, 0, 0), F(2, 5, 4, 0), F(1, 40, 0, 0)), "embedding_bwd",
              "2-D");

    EXPECT_OP(dt_attention_fwd(dev, F(3, 2, 4, 10), F(3, 2, 4, 3), F(3, 2, 1, 4), 1, 1.0f),
              "attention_fwd", "[2, 4, 10]");
    EXPECT_OP(dt_attention_fwd(dev, F(3, 2, 4, 24), F(3, 2, 4, 8), F(3, 2, 5, 4), 5, 1.0f),
              "attention_fwd", "5 heads");
    EXPECT_OP(dt_attention_fwd(dev, F(3, 2, 4, 24), F(3, 2, 4, 8), F(3, 2, 3, 4), 2, 1.0f),
              "attention_fwd", "[2, 3, 4]");
    EXPECT_OP(dt_attention_bwd(dev, F(3, 2, 4, 24), F(3, 2, 4, 8), F(3, 2, 4, 8), F(3, 2, 2, 4),
                               F(3, 2, 4, 24), F(3, 2, 2, 3), 2, 1.0f),
              "attention_bwd", "scratch");

    EXPECT_OP(dt_swiglu_fwd(dev, F(2, 3, 5, 0), F(2, 3, 2, 0)), "swiglu_fwd", "[3, 5]");
    EXPECT_OP(dt_swiglu_fwd(dev, F(2, 3, 6, 0), F(2, 3, 6, 0)), "swiglu_fwd", "[3, 6]");
    EXPECT_OP(dt_swiglu_bwd(dev, F(2, 3, 6, 0), F(2, 3, 3, 0), F(2, 3, 3, 0)), "swiglu_bwd", "dh");

    EXPECT_OP(dt_softmax_xent(dev, F(2, 4, 10, 0), I(1, 3, 0, 0), F(1, 4, 0, 0), none, 1.0f),
              "softmax_xent", "[3]");
    EXPECT_OP(dt_softmax_xent(dev, F(2, 4, 10, 0), F(1, 4, 0, 0), F(1, 4, 0, 0), none, 1.0f),
              "softmax_xent", "targets");
    EXPECT_OP(
        dt_softmax_xent(dev, F(2, 4, 10, 0), I(1, 4, 0, 0), F(1, 4, 0, 0), F(2, 4, 9, 0), 1.0f),
        "softmax_xent", "[4, 9]");

    dt_tensor tab = F(3, 2, 4, 2);
    EXPECT_OP(dt_rope_fwd(dev, F(2, 4, 8, 0), tab, 3, 6), "rope_fwd", "head_dim");
    EXPECT_OP(dt_rope_fwd(dev, F(2, 4, 8, 0), tab, 8, 16), "rope_fwd", "rot_cols");
    EXPECT_OP(dt_rope_bwd(dev, F(2, 5, 8, 0), tab, 8, 8), "rope_bwd", "5 rows");
    EXPECT_OP(dt_rope_bwd(dev, F(2, 4, 8, 0), F(3, 2, 3, 2), 8, 8), "rope_bwd", "[2, 3, 2]");

    EXPECT_OP(dt_add(dev, F(1, 8, 0, 0), F(1, 7, 0, 0), F(1, 8, 0, 0)), "add", "[7]");
    EXPECT_OP(dt_scale(dev, F(1, 8, 0, 0), NAN, F(1, 8, 0, 0)), "scale", "alpha");
    EXPECT_OP(dt_copy(dev, F(1, 8, 0, 0), I(1, 7, 0, 0)), "copy", "[7] i32");
    EXPECT_OP(dt_sum_squares(dev, F(1, 8, 0, 0), F(1, 2, 0, 0)), "sum_squares", "[2]");
    EXPECT_OP(dt_check_finite(dev, I(1, 8, 0, 0), F(1, 1, 0, 0)), "check_finite", "i32");

    dt_adamw_params hp = {1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.1f, 0.05f, 1.0f};
    dt_tensor p8 = F(1, 8, 0, 0);
    hp.beta1 = 1.0f;
    EXPECT_OP(dt_adamw(dev, p8, p8, p8, p8, &hp), "adamw", "beta1");
    hp.beta1 = 0.9f;
    hp.bias1 = 0.0f;
    EXPECT_OP(dt_adamw(dev, p8, p8, p8, p8, &hp), "adamw", "bias");
    hp.bias1 = 0.1f;
    EXPECT_OP(dt_adamw(dev, p8, F(1, 9, 0, 0), p8, p8, &hp), "adamw", "[9]");
    EXPECT_OP(dt_adamw(dev, p8, p8, p8, p8, NULL), "adamw", NULL);
    test_validation_demo(dev);
    test_validation_sizes(dev);
    dt_buffer_free(g_buf);
    g_buf = NULL;
}

/* A tensor of one device handed to an op of another is refused. */
static void test_cross_device(dt_device *cpu) {
    test_dev devs[8];
    int n = test_devices(0, devs, 8);
    if (n <= 0) {
        printf("  (no second device: no cross-device check)\n");
        return;
    }
    dt_device *other = NULL;
    if (dt_device_open(devs[0].spec, &other) != DT_OK) {
        failures++;
        printf("  FAIL: cannot open %s: %s\n", devs[0].spec, dt_last_error());
        return;
    }
    dt_buffer *bc = NULL, *bo = NULL;
    if (dt_buffer_alloc(cpu, 64, &bc) == DT_OK && dt_buffer_alloc(other, 64, &bo) == DT_OK) {
        g_dev = other;
        EXPECT_OP(dt_add(other, dt_tensor_1d(bo, 0, DT_F32, 8), dt_tensor_1d(bc, 0, DT_F32, 8),
                         dt_tensor_1d(bo, 32, DT_F32, 8)),
                  "add", "cpu");
        EXPECT(dt_buffer_copy(bo, 0, bc, 0, 16), DT_ERR_INVALID, "copy across devices", NULL, NULL);
    }
    dt_buffer_free(bc);
    dt_buffer_free(bo);
    dt_device_close(other);
}

int main(void) {
    /* Every status has a distinct, non-empty name. */
    for (int s = DT_OK; s <= DT_ERR_UNSUPPORTED; s++)
        for (int t = DT_OK; t < s; t++) {
            checks++;
            if (!dt_status_name((dt_status)s)[0] ||
                strcmp(dt_status_name((dt_status)s), dt_status_name((dt_status)t)) == 0) {
                failures++;
                printf("  FAIL: status names %d and %d: '%s', '%s'\n", s, t,
                       dt_status_name((dt_status)s), dt_status_name((dt_status)t));
            }
        }
    test_specs();
    test_device_options();
    test_registry();
    dt_device *dev = NULL;
    if (dt_device_open("cpu", &dev) != DT_OK) {
        printf("FAIL: cannot open the cpu device: %s\n", dt_last_error());
        return 1;
    }
    test_buffers(dev);
    test_validation(dev);
    test_cross_device(dev);
    dt_device_close(dev);
    printf("%s: %d of %d checks failed\n", failures ? "FAIL" : "PASS", failures, checks);
    return failures ? 1 : 0;
}
