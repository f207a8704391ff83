/* distro-cli bench: per device, GEMM GFLOP/s, memory bandwidth and the
 * throughput of DeMo's two hot paths (encode = DCT + top-k, and the canonical
 * aggregate-decode-sign-apply). Every figure is the median of repeated runs
 * after a warm-up, each run ending in a device sync. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "cli/cli_args.h"
#include "cli/commands.h"
#include "distro/distro.h"
#include "distro_config.h"

#define MAX_DEVICES 16
#define MAX_SIZES   4
#define SPEC_MAX    96 /* a device spec with its options, and the NUL */

static const cli_opt bench_opts[] = {
    {"device", "SPEC[,SPEC...]",
     "devices to measure, each with any :OPTION=VALUE device options (default: every device "
     "found)"},
    {"json", NULL, "print one JSON document instead of a table"},
    {"quick", NULL, "smaller sizes and fewer repetitions (a smoke test, not a measurement)"},
    {NULL, NULL, NULL},
};

static const cli_cmd bench_cmd = {
    "bench",
    "",
    "Measure GEMM, memory bandwidth and DeMo encode/apply throughput on each device.",
    "GEMM is C = A B with square fp32 matrices (2 n^3 flops). Memory is a device-to-device\n"
    "copy (bytes read + written). DeMo figures use a 2048 x 2048 tensor in 64 x 64 tiles,\n"
    "top-k 32: \"encode\" is the DCT plus top-k of one peer's momentum, \"apply\" is the\n"
    "canonical update from 4 contributions. Each figure is the median of repeated runs\n"
    "after a warm-up. On the cpu device the own blocked GEMM kernel is measured next to\n"
    "BLAS when the build has BLAS and BLAS is the path in use (the spec with :gemm=own);\n"
    "under the table each device's note says, for the cpu device, which GEMM path it\n"
    "chose and why (measured once and cached, or asked for with :gemm=).\n"
    "A spec may carry device options, e.g. --device cpu:threads=2,vulkan:0:kernels=gpu.",
    bench_opts,
    0,
    0,
};

typedef struct bench_config {
    int64_t gemm_sizes[MAX_SIZES];
    int n_sizes;
    int64_t copy_bytes;
    int64_t demo_rows, demo_cols;
    double min_seconds; /* keep repeating until this much time is measured */
    int min_reps, max_reps;
    bool progress;
} bench_config;

typedef struct bench_result {
    dt_device_info info;
    double gemm[MAX_SIZES];     /* GFLOP/s, NAN if not measured */
    double gemm_own[MAX_SIZES]; /* cpu own kernel beside BLAS, NAN otherwise */
    double copy_gbs;
    double encode_pps, apply_pps; /* parameters per second */
    char error[512];
} bench_result;

typedef dt_status (*bench_step)(void *ctx);

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of one step: one warm-up, then repetitions until both
 * min_reps and min_seconds are reached (at most max_reps). */
static dt_status time_median(const bench_config *cfg, dt_device *dev, bench_step step, void *ctx,
                             double *median) {
    double times[64];
    dt_status st = step(ctx);
    if (st == DT_OK) st = dt_device_sync(dev);
    if (st != DT_OK) return st;
    int n = 0;
    double total = 0.0;
    int max_reps = cfg->max_reps < 64 ? cfg->max_reps : 64;
    while (n < max_reps && (n < cfg->min_reps || total < cfg->min_seconds)) {
        double t0 = cli_now();
        st = step(ctx);
        if (st == DT_OK) st = dt_device_sync(dev);
        if (st != DT_OK) return st;
        times[n] = cli_now() - t0;
        total += times[n++];
    }
    qsort(times, (size_t)n, sizeof times[0], cmp_double);
    *median = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
    return DT_OK;
}

/* Deterministic pseudo-random fill in [-1, 1). */
static void fill_random(float *x, int64_t n, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
}

static dt_status upload_random(dt_tensor *t, uint64_t seed) {
    int64_t n = dt_tensor_numel(t);
    float *h = malloc((size_t)n * sizeof(float));
    if (!h) return dt_error(DT_ERR_OOM, "bench: cannot allocate %lld floats", (long long)n);
    fill_random(h, n, seed);
    dt_status st = dt_buffer_upload(t->buf, t->offset, h, (size_t)n * sizeof(float));
    free(h);
    return st;
}

/* ---- GEMM ------------------------------------------------------------------ */

typedef struct gemm_ctx {
    dt_device *dev;
    dt_tensor a, b, c;
} gemm_ctx;

static dt_status gemm_step(void *p) {
    gemm_ctx *g = p;
    return dt_matmul(g->dev, 0, 0, 1.0f, g->a, g->b, 0.0f, g->c);
}

static dt_status bench_gemm(const bench_config *cfg, dt_device *dev, int64_t n, double *gflops) {
    gemm_ctx g = {dev, {0}, {0}, {0}};
    int64_t shape[2] = {n, n};
    dt_status st = dt_tensor_alloc(dev, DT_F32, 2, shape, &g.a);
    if (st == DT_OK) st = dt_tensor_alloc(dev, DT_F32, 2, shape, &g.b);
    if (st == DT_OK) st = dt_tensor_alloc(dev, DT_F32, 2, shape, &g.c);
    if (st == DT_OK) st = upload_random(&g.a, 1);
    if (st == DT_OK) st = upload_random(&g.b, 2);
    double t = 0.0;
    if (st == DT_OK) st = time_median(cfg, dev, gemm_step, &g, &t);
    if (st == DT_OK) *gflops = 2.0 * (double)n * (double)n * (double)n / t * 1e-9;
    if (g.a.buf) dt_tensor_free(&g.a);
    if (g.b.buf) dt_tensor_free(&g.b);
    if (g.c.buf) dt_tensor_free(&g.c);
    return st;
}

/* ---- memory ---------------------------------------------------------------- */

typedef struct copy_ctx {
    dt_buffer *src, *dst;
    size_t bytes;
} copy_ctx;

static dt_status copy_step(void *p) {
    copy_ctx *c = p;
    return dt_buffer_copy(c->dst, 0, c->src, 0, c->bytes);
}

static dt_status bench_copy(const bench_config *cfg, dt_device *dev, double *gbs) {
    copy_ctx c = {NULL, NULL, (size_t)cfg->copy_bytes};
    dt_status st = dt_buffer_alloc(dev, c.bytes, &c.src);
    if (st == DT_OK) st = dt_buffer_alloc(dev, c.bytes, &c.dst);
    if (st == DT_OK) {
        dt_tensor t = dt_tensor_1d(c.src, 0, DT_F32, (int64_t)(c.bytes / 4));
        st = dt_fill(dev, t, 1.0f);
    }
    double t = 0.0;
    if (st == DT_OK) st = time_median(cfg, dev, copy_step, &c, &t);
    if (st == DT_OK) *gbs = 2.0 * (double)c.bytes / t * 1e-9;
    dt_buffer_free(c.src);
    dt_buffer_free(c.dst);
    return st;
}

/* ---- DeMo ------------------------------------------------------------------ */

enum { DEMO_TOPK = 32, DEMO_CONTRIB = 4 };

typedef struct demo_ctx {
    dt_device *dev;
    dt_tile_plan plan;
    dt_tensor x, f1, f2, coeffs, idx, vals, cidx, cvals, recip;
} demo_ctx;

static dt_status encode_step(void *p) {
    demo_ctx *d = p;
    dt_status st = dt_demo_encode(d->dev, &d->plan, d->x, d->f1, d->f2, d->coeffs);
    if (st == DT_OK) st = dt_demo_topk(d->dev, d->coeffs, DEMO_TOPK, d->idx, d->vals);
    return st;
}

static dt_status apply_step(void *p) {
    demo_ctx *d = p;
    return dt_demo_apply(d->dev, &d->plan, d->cidx, d->cvals, DEMO_CONTRIB, d->recip, d->f1, d->f2,
                         d->x, 1e-4f, 1.0f - 1e-5f, DT_DEMO_UPDATE_SIGN);
}

/* Contributions as the wire would deliver them: per tile, k distinct
 * indices (a random stride walk) with values in [-1, 1). */
static dt_status upload_contributions(demo_ctx *d) {
    int64_t n = DEMO_CONTRIB * d->plan.n_tiles * DEMO_TOPK;
    int32_t *idx = malloc((size_t)n * sizeof(int32_t));
    float *vals = malloc((size_t)n * sizeof(float));
    dt_status st = DT_OK;
    if (!idx || !vals) st = dt_error(DT_ERR_OOM, "bench: cannot allocate contributions");
    for (int64_t e = 0; st == DT_OK && e < n / DEMO_TOPK; e++) {
        int64_t start = (e * 7919) % d->plan.tile_size;
        for (int64_t j = 0; j < DEMO_TOPK; j++)
            idx[e * DEMO_TOPK + j] = (int32_t)((start + j * 97) % d->plan.tile_size);
    }
    if (st == DT_OK) {
        fill_random(vals, n, 5);
        st = dt_buffer_upload(d->cidx.buf, 0, idx, (size_t)n * 4);
    }
    if (st == DT_OK) st = dt_buffer_upload(d->cvals.buf, 0, vals, (size_t)n * 4);
    free(idx);
    free(vals);
    return st;
}

static dt_status bench_demo(const bench_config *cfg, dt_device *dev, double *encode_pps,
                            double *apply_pps) {
    demo_ctx d;
    memset(&d, 0, sizeof d);
    d.dev = dev;
    int64_t shape[2] = {cfg->demo_rows, cfg->demo_cols};
    dt_status st = dt_demo_tile_plan(2, shape, 64, &d.plan);
    int64_t tr = d.plan.tile_rows, tc = d.plan.tile_cols;
    int64_t sparse[2] = {d.plan.n_tiles, DEMO_TOPK};
    int64_t csparse[3] = {DEMO_CONTRIB, d.plan.n_tiles, DEMO_TOPK};
    int64_t cshape[2] = {d.plan.n_tiles, d.plan.tile_size};
    int64_t rshape[1] = {DEMO_CONTRIB + 1};
    if (st == DT_OK) st = dt_tensor_alloc(dev, DT_F32, 2, shape, &d.x);
    if (st == DT_OK) st = dt_tensor_alloc(dev, DT_F32, 2, (int64_t[]){tr, tr}, &d.f1);
    if (st == DT_OK) st = dt_tensor_alloc(dev, DT_F32, 2, (int64_t[]){tc, tc}, &d.f2);
    if (st == DT_OK) st = dt_tensor_alloc(dev, DT_F32, 2, cshape, &d.coeffs);
    if (st == DT_OK) st = dt_tensor_alloc(dev, DT_I32, 2, sparse, &d.idx);
    if (st == DT_OK) st = dt_tensor_alloc(dev, DT_F32, 2, sparse, &d.vals);
    if (st == DT_OK) st = dt_tensor_alloc(dev, DT_I32, 3, csparse, &d.cidx);
    if (st == DT_OK) st = dt_tensor_alloc(dev, DT_F32, 3, csparse, &d.cvals);
    if (st == DT_OK) st = dt_tensor_alloc(dev, DT_F32, 1, rshape, &d.recip);
    if (st == DT_OK) {
        float basis1[64 * 64], basis2[64 * 64], recip[DEMO_CONTRIB + 1];
        dt_dct_basis(tr, basis1);
        dt_dct_basis(tc, basis2);
        dt_recip_table(DEMO_CONTRIB, recip);
        st = dt_buffer_upload(d.f1.buf, 0, basis1, (size_t)(tr * tr) * 4);
        if (st == DT_OK) st = dt_buffer_upload(d.f2.buf, 0, basis2, (size_t)(tc * tc) * 4);
        if (st == DT_OK) st = dt_buffer_upload(d.recip.buf, 0, recip, sizeof recip);
    }
    if (st == DT_OK) st = upload_random(&d.x, 4);
    if (st == DT_OK) st = upload_contributions(&d);
    double t = 0.0, params = (double)(cfg->demo_rows * cfg->demo_cols);
    /* Encode and apply are measured independently: one failing (an op a
     * device lacks) still leaves the other's figure. */
    if (st == DT_OK) {
        dt_status enc = time_median(cfg, dev, encode_step, &d, &t);
        if (enc == DT_OK) *encode_pps = params / t;
        st = time_median(cfg, dev, apply_step, &d, &t);
        if (st == DT_OK) *apply_pps = params / t;
        if (st == DT_OK) st = enc;
    }
    dt_tensor *all[] = {&d.x,    &d.f1,   &d.f2,    &d.coeffs, &d.idx,
                        &d.vals, &d.cidx, &d.cvals, &d.recip};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]->buf) dt_tensor_free(all[i]);
    return st;
}

/* ---- driver ------------------------------------------------------------------ */

static void progress(const bench_config *cfg, const char *spec, const char *what) {
    if (cfg->progress) fprintf(stderr, "\r\033[K[bench] %s: %s", spec, what);
}

static void note_error(bench_result *r, const char *what) {
    if (!r->error[0]) snprintf(r->error, sizeof r->error, "%s: %s", what, dt_last_error());
}

static void bench_device(const bench_config *cfg, const char *spec, bench_result *r) {
    for (int i = 0; i < MAX_SIZES; i++) r->gemm[i] = r->gemm_own[i] = NAN;
    r->copy_gbs = r->encode_pps = r->apply_pps = NAN;
    dt_device *dev = NULL;
    if (dt_device_open(spec, &dev) != DT_OK) {
        snprintf(r->error, sizeof r->error, "%s", dt_last_error());
        snprintf(r->info.spec, sizeof r->info.spec, "%.31s", spec);
        return;
    }
    r->info = *dt_device_get_info(dev);
    char what[64];
    for (int i = 0; i < cfg->n_sizes; i++) {
        int64_t n = cfg->gemm_sizes[i];
        snprintf(what, sizeof what, "GEMM %lld^3", (long long)n);
        progress(cfg, r->info.spec, what);
        if (bench_gemm(cfg, dev, n, &r->gemm[i]) != DT_OK) note_error(r, what);
    }
    progress(cfg, r->info.spec, "memory copy");
    if (bench_copy(cfg, dev, &r->copy_gbs) != DT_OK) note_error(r, "memory copy");
    progress(cfg, r->info.spec, "DeMo encode and apply");
    if (bench_demo(cfg, dev, &r->encode_pps, &r->apply_pps) != DT_OK) note_error(r, "DeMo");
    dt_device_close(dev);

    /* On the cpu device, the own GEMM kernel beside the path in use (BLAS,
     * by measurement or as asked), from the same spec with gemm=own. */
    char own[SPEC_MAX + 16];
    if (strcmp(r->info.backend, "cpu") == 0 && DISTRO_HAVE_CBLAS &&
        !strstr(r->info.options, "gemm=") && strncmp(r->info.note, "gemm: own", 9) != 0 &&
        (size_t)snprintf(own, sizeof own, "%s:gemm=own", spec) < sizeof own &&
        dt_device_open(own, &dev) == DT_OK) {
        for (int i = 0; i < cfg->n_sizes; i++) {
            snprintf(what, sizeof what, "GEMM %lld^3 (own kernel)", (long long)cfg->gemm_sizes[i]);
            progress(cfg, r->info.spec, what);
            if (bench_gemm(cfg, dev, cfg->gemm_sizes[i], &r->gemm_own[i]) != DT_OK)
                note_error(r, what);
        }
        dt_device_close(dev);
    }
    if (cfg->progress) fprintf(stderr, "\r\033[K");
}

/* Every device of every backend, or the comma-separated list given; each
 * spec given is checked here, before anything is measured, so a typo fails
 * at once instead of after the other devices' tables. Returns the count, or
 * after printing the error -2 (a malformed list) or -1 (no such device). */
static int collect_specs(const char *list, char specs[][SPEC_MAX], int max) {
    int n = 0;
    if (list) {
        const char *p = list;
        while (*p) {
            size_t len = strcspn(p, ",");
            if (len == 0 || len >= SPEC_MAX || n == max) {
                cli_fail(&bench_cmd, "--device '%s': %s", list,
                         len == 0          ? "an empty device spec"
                         : len >= SPEC_MAX ? "a device spec longer than 95 characters"
                                           : "more than 16 devices");
                return -2;
            }
            memcpy(specs[n], p, len);
            specs[n][len] = '\0';
            if (dt_device_check_spec(specs[n]) != DT_OK) {
                fprintf(stderr, "distro-cli bench: %s\n", dt_last_error());
                return -1;
            }
            n++;
            p += len;
            if (*p == ',' && !*++p) {
                cli_fail(&bench_cmd, "--device '%s': an empty device spec", list);
                return -2;
            }
        }
        return n;
    }
    for (int b = 0; b < dt_backend_count(); b++) {
        int count = 0;
        if (dt_backend_devices(b, &count, NULL, 0) != DT_OK) continue;
        for (int d = 0; d < count && n < max; d++) {
            dt_device_info info;
            if (dt_backend_device_info(b, d, &info) == DT_OK)
                snprintf(specs[n++], SPEC_MAX, "%s", info.spec);
        }
    }
    return n;
}

static void print_row(const char *label, const bench_result *r, int n, size_t offset, double scale,
                      const char *fmt) {
    printf("%-34s", label);
    for (int i = 0; i < n; i++) {
        double v = *(const double *)((const char *)&r[i] + offset);
        if (isnan(v))
            printf(" %16s", "-");
        else {
            char cell[32];
            snprintf(cell, sizeof cell, fmt, v * scale);
            printf(" %16s", cell);
        }
    }
    printf("\n");
}

static void print_table(const bench_config *cfg, const bench_result *r, int n) {
    printf("%-34s", "");
    for (int i = 0; i < n; i++) printf(" %16.16s", r[i].info.spec);
    printf("\n%-34s", "");
    for (int i = 0; i < n; i++) printf(" %16.16s", r[i].info.name);
    printf("\n");
    bool any_options = false;
    for (int i = 0; i < n; i++) any_options |= r[i].info.options[0] != '\0';
    if (any_options) {
        printf("%-34s", "device options");
        for (int i = 0; i < n; i++)
            printf(" %16.16s", r[i].info.options[0] ? r[i].info.options : "-");
        printf("\n");
    }
    char label[64];
    for (int s = 0; s < cfg->n_sizes; s++) {
        long long m = (long long)cfg->gemm_sizes[s];
        snprintf(label, sizeof label, "GEMM %lldx%lldx%lld (GFLOP/s)", m, m, m);
        print_row(label, r, n, offsetof(bench_result, gemm) + (size_t)s * sizeof(double), 1.0,
                  "%.1f");
    }
    bool any_own = false;
    for (int i = 0; i < n; i++) any_own |= !isnan(r[i].gemm_own[0]);
    for (int s = 0; any_own && s < cfg->n_sizes; s++) {
        long long m = (long long)cfg->gemm_sizes[s];
        snprintf(label, sizeof label, "GEMM %lld^3 own kernel (GFLOP/s)", m);
        print_row(label, r, n, offsetof(bench_result, gemm_own) + (size_t)s * sizeof(double), 1.0,
                  "%.1f");
    }
    print_row("memory copy (GB/s)", r, n, offsetof(bench_result, copy_gbs), 1.0, "%.1f");
    print_row("DeMo encode (Mparam/s)", r, n, offsetof(bench_result, encode_pps), 1e-6, "%.1f");
    print_row("DeMo canonical apply (Mparam/s)", r, n, offsetof(bench_result, apply_pps), 1e-6,
              "%.1f");
    /* What a figure depends on, e.g. which GEMM path the cpu device chose and why. */
    for (int i = 0; i < n; i++)
        if (r[i].info.note[0]) printf("%s: %s\n", r[i].info.spec, r[i].info.note);
    for (int i = 0; i < n; i++)
        if (r[i].error[0]) printf("error on %s: %s\n", r[i].info.spec, r[i].error);
}

static void add_number(cJSON *o, const char *key, double v) {
    if (isnan(v))
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, v);
}

static void print_json(const bench_config *cfg, const bench_result *r, int n) {
    cJSON *root = cJSON_CreateObject();
    cJSON *devs = cJSON_AddArrayToObject(root, "devices");
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "spec", r[i].info.spec);
        cJSON_AddStringToObject(o, "name", r[i].info.name);
        cJSON_AddStringToObject(o, "backend", r[i].info.backend);
        cJSON_AddStringToObject(o, "options", r[i].info.options);
        cJSON_AddStringToObject(o, "note", r[i].info.note);
        cJSON *g = cJSON_AddArrayToObject(o, "gemm");
        for (int s = 0; s < cfg->n_sizes; s++) {
            for (int own = 0; own < 2; own++) {
                double v = own ? r[i].gemm_own[s] : r[i].gemm[s];
                if (own && isnan(v)) continue;
                cJSON *e = cJSON_CreateObject();
                cJSON_AddNumberToObject(e, "m", (double)cfg->gemm_sizes[s]);
                cJSON_AddNumberToObject(e, "n", (double)cfg->gemm_sizes[s]);
                cJSON_AddNumberToObject(e, "k", (double)cfg->gemm_sizes[s]);
                cJSON_AddStringToObject(e, "kernel", own ? "own" : "default");
                add_number(e, "gflops", v);
                cJSON_AddItemToArray(g, e);
            }
        }
        add_number(o, "copy_gb_per_s", r[i].copy_gbs);
        add_number(o, "demo_encode_params_per_s", r[i].encode_pps);
        add_number(o, "demo_apply_params_per_s", r[i].apply_pps);
        if (r[i].error[0]) cJSON_AddStringToObject(o, "error", r[i].error);
        cJSON_AddItemToArray(devs, o);
    }
    char *text = cJSON_Print(root);
    if (text) printf("%s\n", text);
    free(text);
    cJSON_Delete(root);
}

int cmd_bench(int argc, char **argv) {
    cli_args args;
    int rc = cli_parse(&bench_cmd, argc, argv, &args);
    if (rc) return rc == 1 ? 0 : rc;
    bool quick = cli_flag(&args, "quick");
    bench_config cfg = {
        .gemm_sizes = {256, 512, 1024, 2048},
        .n_sizes = 4,
        .copy_bytes = 256ll << 20,
        .demo_rows = 2048,
        .demo_cols = 2048,
        .min_seconds = 1.0,
        .min_reps = 5,
        .max_reps = 50,
        .progress = cli_isatty_stderr(),
    };
    if (quick) {
        cfg = (bench_config){
            .gemm_sizes = {128, 1024},
            .n_sizes = 2,
            .copy_bytes = 16ll << 20,
            .demo_rows = 512,
            .demo_cols = 512,
            .min_seconds = 0.0,
            .min_reps = 3,
            .max_reps = 3,
            .progress = cfg.progress,
        };
    }
    static char specs[MAX_DEVICES][SPEC_MAX];
    int n = collect_specs(cli_get(&args, "device"), specs, MAX_DEVICES);
    if (n < 0) return n == -2 ? 2 : 1;
    if (n == 0) return cli_fail(&bench_cmd, "no devices to measure");
    static bench_result results[MAX_DEVICES];
    int failed = 0;
    for (int i = 0; i < n; i++) {
        memset(&results[i], 0, sizeof results[i]);
        bench_device(&cfg, specs[i], &results[i]);
        if (results[i].error[0]) failed++;
    }
    if (cli_flag(&args, "json"))
        print_json(&cfg, results, n);
    else
        print_table(&cfg, results, n);
    return failed ? 1 : 0;
}
