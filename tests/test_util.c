/* Shared helpers of the op tests; see test_util.h. */
#include "tests/test_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- RNG ------------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rng_seed(rng *r, uint64_t seed) {
    uint64_t x = seed;
    r->s = splitmix64(&x);
    if (r->s == 0) r->s = 0x2545F4914F6CDD1Dull; /* xorshift must not start at 0 */
}

uint64_t rng_u64(rng *r) {
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

double rng_uniform(rng *r) {
    return (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}
double rng_sym(rng *r) {
    return 2.0 * rng_uniform(r) - 1.0;
}

double rng_normal(rng *r) {
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int64_t rng_int(rng *r, int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    return lo + (int64_t)(rng_u64(r) % (uint64_t)(hi - lo));
}

void rng_fill(rng *r, float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(rng_sym(r) * scale);
}

void rng_shuffle_i32(rng *r, int32_t *x, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_int(r, 0, (int64_t)i);
        int32_t t = x[i - 1];
        x[i - 1] = x[j];
        x[j] = t;
    }
}

uint64_t hash_str(const char *s) {
    uint64_t h = 0xCBF29CE484222325ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    return h;
}

uint64_t test_seed(uint64_t fallback) {
    const char *e = getenv("DISTRO_TEST_SEED");
    if (!e || !*e) return fallback;
    return (uint64_t)strtoull(e, NULL, 0);
}

uint64_t test_time_seed(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x =
        (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    return splitmix64(&x) & 0xFFFFFFFFFFFFull; /* short enough to retype */
}

/* ---- comparisons ------------------------------------------------------------ */

double nmse(const float *got, const double *want, size_t n) {
    return nmse_floor(got, want, n, 0.0);
}

double nmse_floor(const float *got, const double *want, size_t n, double den_floor) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double g = (double)got[i], w = want[i];
        if (!isfinite(g) || !isfinite(w)) return INFINITY;
        num += (g - w) * (g - w);
        den += w * w;
    }
    if (den < den_floor) den = den_floor;
    return den > 0.0 ? num / den : num;
}

double nmse_dd(const double *got, const double *want, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) || !isfinite(want[i])) return INFINITY;
        num += (got[i] - want[i]) * (got[i] - want[i]);
        den += want[i] * want[i];
    }
    return den > 0.0 ? num / den : num;
}

void f2d(const float *x, double *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = (double)x[i];
}

void d2f(const double *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = (float)x[i];
}

/* ---- the test context --------------------------------------------------------- */

/* ---- GEMM against double ------------------------------------------------ */

double gemm_worst_error(const dt_gemm_desc *d, const float *a, const float *b, const float *c0,
                        const float *c) {
    double worst = 0.0;
    for (int64_t t = 0; t < d->batch; t++)
        for (int64_t i = 0; i < d->m; i++)
            for (int64_t j = 0; j < d->n; j++) {
                const float *at = a + t * d->stride_a, *bt = b + t * d->stride_b;
                double sum = 0.0, mag = 0.0;
                for (int64_t p = 0; p < d->k; p++) {
                    double av = d->trans_a ? at[p * d->lda + i] : at[i * d->lda + p];
                    double bv = d->trans_b ? bt[j * d->ldb + p] : bt[p * d->ldb + j];
                    sum += av * bv;
                    mag += fabs(av * bv);
                }
                int64_t ci = t * d->stride_c + i * d->ldc + j;
                double want = d->alpha * sum + (d->beta != 0.0f ? d->beta * c0[ci] : 0.0);
                double scale =
                    fabs(d->alpha) * mag + (d->beta != 0.0f ? fabs(d->beta * c0[ci]) : 0.0);
                double err = fabs(c[ci] - want) / (scale + 1e-30);
                if (!(err <= worst)) worst = isnan(err) ? INFINITY : err;
            }
    return worst;
}

/* ---- status checks ------------------------------------------------------ */

int test_status_is(int line, dt_status got, dt_status want, dt_status want2, const char *what,
                   const char *frag1, const char *frag2) {
    const char *msg = dt_last_error();
    int ok = got == want || got == want2;
    if (ok && got != DT_OK) {
        if (frag1 && !strstr(msg, frag1)) ok = 0;
        if (frag2 && !strstr(msg, frag2)) ok = 0;
    }
    if (ok) {
        if (getenv("DISTRO_TEST_VERBOSE"))
            printf("  ok  %s -> %s: %s\n", what, dt_status_name(got), msg);
        return 1;
    }
    printf("  FAIL line %d: %s returned %s \"%s\"; expected %s%s%s with \"%s\"%s%s%s\n", line, what,
           dt_status_name(got), got == DT_OK ? "" : msg, dt_status_name(want),
           want2 != want ? " or " : "", want2 != want ? dt_status_name(want2) : "",
           frag1 ? frag1 : "", frag2 ? " and \"" : "", frag2 ? frag2 : "", frag2 ? "\"" : "");
    return 0;
}

const char *dev_spec(const dt_device *dev) {
    return dev ? dt_device_get_info(dev)->spec : "ref";
}

static void free_allocs(tc *c) {
    for (int i = 0; i < c->n_allocs; i++) free(c->allocs[i]);
    c->n_allocs = 0;
}

void tc_init(tc *c, uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->seed = seed;
    rng_seed(&c->r, seed);
    const char *v = getenv("DISTRO_TEST_VERBOSE");
    c->verbose = v && *v && strcmp(v, "0") != 0;
    for (int i = 0; i < TOL_COUNT; i++) c->tol[i] = 1e-7;
}

void tc_begin_op(tc *c, const char *op) {
    c->op = op;
    c->label[0] = '\0';
    c->op_cases = 0;
    c->op_failed = 0;
    c->op_worst = 0.0;
    rng_seed(&c->r, c->seed ^ hash_str(op));
}

void tc_end_op(tc *c) {
    free_allocs(c);
    const char *vs = c->versus ? c->versus : c->ref ? dev_spec(c->ref) : "double reference";
    if (c->op_cases == 0) {
        /* A family that checked nothing has not passed (issue 11). */
        c->ops_failed++;
        printf("FAIL %-8s %-18s ran no checks (vs %s, seed %llu)\n", dev_spec(c->dut), c->op, vs,
               (unsigned long long)c->seed);
    } else if (c->op_failed) {
        c->ops_failed++;
        printf("FAIL %-8s %-18s %d of %d checks failed, worst nmse %.3g (vs %s, seed %llu)\n",
               dev_spec(c->dut), c->op, c->op_failed, c->op_cases, c->op_worst, vs,
               (unsigned long long)c->seed);
    } else {
        c->ops_passed++;
        printf("PASS %-8s %-18s %d checks, worst nmse %.3g (vs %s)\n", dev_spec(c->dut), c->op,
               c->op_cases, c->op_worst, vs);
    }
    fflush(stdout);
}

void tc_case(tc *c, const char *fmt, ...) {
    free_allocs(c);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->label, sizeof c->label, fmt, ap);
    va_end(ap);
    if (c->verbose) printf("  case %s\n", c->label);
}

void *tc_alloc(tc *c, size_t bytes) {
    if (c->n_allocs >= (int)(sizeof c->allocs / sizeof c->allocs[0])) {
        fprintf(stderr, "test bug: more than %d host allocations in case %s\n", c->n_allocs,
                c->label);
        abort();
    }
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of host memory (%zu bytes) in case %s\n", bytes, c->label);
        abort();
    }
    c->allocs[c->n_allocs++] = p;
    return p;
}

void tc_fail_at(tc *c, const char *file, int line, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->op_cases++;
    c->op_failed++;
    c->failures++;
    printf("  FAIL %s %s [%s]: %s (seed %llu, DISTRO_TEST_SEED=%llu to repeat; %s:%d)\n",
           dev_spec(c->dut), c->op ? c->op : "-", c->label, msg, (unsigned long long)c->seed,
           (unsigned long long)c->seed, file, line);
    fflush(stdout);
}

int tc_ok_at(tc *c, const char *file, int line, dt_status st, dt_device *dev, const char *call) {
    if (st == DT_OK) return 1;
    tc_fail_at(c, file, line, "%s on %s returned %s: %s", call, dev_spec(dev), dt_status_name(st),
               dt_last_error());
    return 0;
}

void tc_pass(tc *c, double value) {
    c->op_cases++;
    if (value > c->op_worst) c->op_worst = value;
}

int tc_nmse(tc *c, const char *what, const float *got, const double *want, size_t n, double tol) {
    return tc_nmse_floor(c, what, got, want, n, tol, 0.0);
}

int tc_nmse_floor(tc *c, const char *what, const float *got, const double *want, size_t n,
                  double tol, double den_floor) {
    double e = nmse_floor(got, want, n, den_floor);
    if (e <= tol) {
        tc_pass(c, e);
        if (c->verbose) printf("    %s nmse %.3g\n", what, e);
        return 1;
    }
    if (!(e <= c->op_worst)) c->op_worst = e;
    /* Show where it went wrong: the first non-finite or the largest errors. */
    char detail[512] = "";
    size_t used = 0, shown = 0;
    for (size_t i = 0; i < n && shown < 4; i++) {
        double d = fabs((double)got[i] - want[i]);
        double lim = 1e-3 * (fabs(want[i]) + 1e-3);
        if (!isfinite((double)got[i]) || !isfinite(want[i]) || d > lim) {
            int k = snprintf(detail + used, sizeof detail - used, "%s[%zu] got %.9g want %.9g",
                             shown ? "; " : "", i, (double)got[i], want[i]);
            if (k > 0 && (size_t)k < sizeof detail - used) used += (size_t)k;
            shown++;
        }
    }
    TC_FAIL(c, "%s: nmse %.3g > %.3g over %zu elements%s%s%s", what, e, tol, n,
            den_floor > 0.0 ? " (denominator floored at the whole tensor's scale)" : "",
            shown ? "; first bad: " : "", detail);
    return 0;
}

int tc_bits(tc *c, const char *what, const void *got, const void *want, size_t n) {
    const uint32_t *g = got, *w = want;
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (g[i] != w[i]) {
            if (!bad) first = i;
            bad++;
        }
    if (!bad) {
        tc_pass(c, 0.0);
        return 1;
    }
    float gf, wf;
    memcpy(&gf, &g[first], 4);
    memcpy(&wf, &w[first], 4);
    TC_FAIL(c,
            "%s: %zu of %zu words differ; first at %zu: got 0x%08x (%.9g / %d) want 0x%08x "
            "(%.9g / %d)",
            what, bad, n, first, g[first], (double)gf, (int32_t)g[first], w[first], (double)wf,
            (int32_t)w[first]);
    return 0;
}

/* ---- guarded tensors ------------------------------------------------------------ */

void gs_init(gt_set *s, tc *c, dt_device *dev) {
    memset(s, 0, sizeof *s);
    s->c = c;
    s->dev = dev;
    s->ok = 1;
}

int gs_add(gt_set *s, const char *name, gt_kind kind, dt_dtype dt, int ndim, const int64_t *shape,
           const void *host) {
    if (s->n >= (int)(sizeof s->g / sizeof s->g[0])) {
        fprintf(stderr, "test bug: too many tensors in one op call\n");
        abort();
    }
    int i = s->n++;
    gt *g = &s->g[i];
    g->kind = kind;
    g->name = name;
    g->t = dt_tensor_nd(NULL, GUARD_PRE, dt, ndim, shape);
    g->bytes = dt_tensor_bytes(&g->t);
    g->orig = kind == GT_IN ? host : NULL;
    if (!s->ok) return i;
    size_t total = GUARD_PRE + g->bytes + GUARD_POST;
    unsigned char *img = malloc(total);
    if (!img) abort();
    memset(img, GUARD_BYTE, total);
    if (kind == GT_OUT) {
        uint32_t p = POISON_BITS;
        for (size_t o = 0; o < g->bytes; o += 4) memcpy(img + GUARD_PRE + o, &p, 4);
    } else {
        memcpy(img + GUARD_PRE, host, g->bytes);
    }
    char what[96];
    snprintf(what, sizeof what, "buffer_alloc(%zu) for %s", total, name);
    if (!TC_OK(s->c, dt_buffer_alloc(s->dev, total, &g->buf), s->dev, what)) {
        s->ok = 0;
    } else {
        g->t.buf = g->buf;
        snprintf(what, sizeof what, "upload of %s", name);
        if (!TC_OK(s->c, dt_buffer_upload(g->buf, 0, img, total), s->dev, what)) s->ok = 0;
    }
    free(img);
    return i;
}

void gs_call(gt_set *s, dt_status st, const char *call) {
    if (s->ok && !TC_OK(s->c, st, s->dev, call)) s->ok = 0;
}

/* Downloads the whole buffer of slot i; checks the guards. NULL on failure. */
static unsigned char *gs_image(gt_set *s, int i) {
    gt *g = &s->g[i];
    size_t total = GUARD_PRE + g->bytes + GUARD_POST;
    unsigned char *img = malloc(total);
    if (!img) abort();
    char what[96];
    snprintf(what, sizeof what, "download of %s", g->name);
    if (!TC_OK(s->c, dt_buffer_download(g->buf, 0, img, total), s->dev, what)) {
        free(img);
        s->ok = 0;
        return NULL;
    }
    for (size_t o = 0; o < total; o++) {
        if (o == GUARD_PRE) o += g->bytes;
        if (o < total && img[o] != GUARD_BYTE) {
            long rel = o < GUARD_PRE ? -(long)(GUARD_PRE - o) : (long)(o - GUARD_PRE - g->bytes);
            TC_FAIL(s->c, "guard of %s on %s overwritten %s the view (byte %ld %s, now 0x%02x)",
                    g->name, dev_spec(s->dev), rel < 0 ? "before" : "after",
                    rel < 0 ? -rel : rel + 1, rel < 0 ? "before its start" : "past its end",
                    img[o]);
            s->ok = 0;
            break;
        }
    }
    return img;
}

void gs_read(gt_set *s, int i, void *host) {
    if (!s->ok) return;
    unsigned char *img = gs_image(s, i);
    if (img && s->ok) memcpy(host, img + GUARD_PRE, s->g[i].bytes);
    free(img);
}

int gs_done(gt_set *s) {
    for (int i = 0; i < s->n; i++) {
        gt *g = &s->g[i];
        if (!g->buf) continue;
        if (s->ok) {
            unsigned char *img = gs_image(s, i);
            if (img && s->ok && g->kind == GT_IN && memcmp(img + GUARD_PRE, g->orig, g->bytes)) {
                TC_FAIL(s->c, "input %s on %s was modified by the op", g->name, dev_spec(s->dev));
                s->ok = 0;
            }
            free(img);
        }
        dt_buffer_free(g->buf);
        g->buf = NULL;
    }
    return s->ok;
}

/* ---- devices --------------------------------------------------------------------- */

/* Is `spec` in the comma list `list`? */
static int in_list(const char *list, const char *spec) {
    size_t n = strlen(spec);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && *p == ' ') p++, len--;
        while (len && p[len - 1] == ' ') len--;
        if (len == n && strncmp(p, spec, n) == 0) return 1;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

int test_devices(int with_cpu, test_dev *out, int max) {
    const char *filter = getenv("DISTRO_TEST_DEVICES");
    if (filter && !*filter) filter = NULL;
    int n = 0, missing = 0;
    for (int b = 0; b < dt_backend_count(); b++) {
        const char *name = dt_backend_name(b);
        int is_cpu = strcmp(name, "cpu") == 0;
        int count = 0;
        char why[256] = "";
        dt_status st = dt_backend_devices(b, &count, why, sizeof why);
        if (st != DT_OK) {
            printf("SKIP %s: enumerating devices failed: %s\n", name, dt_last_error());
            continue;
        }
        if (count == 0) {
            printf("SKIP %s: %s\n", name, why[0] ? why : "no device");
            continue;
        }
        for (int d = 0; d < count && n < max; d++) {
            dt_device_info info;
            if (dt_backend_device_info(b, d, &info) != DT_OK) {
                printf("SKIP %s:%d: cannot describe it: %s\n", name, d, dt_last_error());
                continue;
            }
            int listed =
                filter && (in_list(filter, info.spec) || (is_cpu && in_list(filter, "cpu")));
            int take = is_cpu ? (with_cpu || listed) : (!filter || listed);
            if (!take) {
                if (!is_cpu) printf("SKIP %s: not in DISTRO_TEST_DEVICES\n", info.spec);
                continue;
            }
            snprintf(out[n].spec, sizeof out[n].spec, "%s", info.spec);
            snprintf(out[n].name, sizeof out[n].name, "%s", info.name);
            snprintf(out[n].backend, sizeof out[n].backend, "%s", info.backend);
            n++;
        }
    }
    if (filter) {
        /* Every listed spec must have been found: a CI job that asks for a
         * device must not pass because the device vanished. */
        char copy[512];
        snprintf(copy, sizeof copy, "%s", filter);
        for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
            while (*tok == ' ') tok++;
            int found = 0;
            for (int i = 0; i < n; i++)
                if (strcmp(out[i].spec, tok) == 0 ||
                    (strcmp(tok, "cpu") == 0 && strcmp(out[i].backend, "cpu") == 0))
                    found = 1;
            if (!found) {
                printf("FAIL DISTRO_TEST_DEVICES names '%s', which no compiled backend offers\n",
                       tok);
                missing = 1;
            }
        }
    }
    return missing ? -1 : n;
}

int test_devices_named(int n_specs, char *const *specs, test_dev *out, int max) {
    int n = 0;
    for (int i = 0; i < n_specs && n < max; i++) {
        dt_status st = dt_device_check_spec(specs[i]);
        if (st == DT_ERR_UNAVAILABLE || st == DT_ERR_NOT_FOUND) {
            printf("SKIP %s: %s\n", specs[i], dt_last_error());
            continue;
        }
        if (st != DT_OK) {
            printf("FAIL %s: %s\n", specs[i], dt_last_error());
            return -1;
        }
        snprintf(out[n].spec, sizeof out[n].spec, "%s", specs[i]);
        snprintf(out[n].name, sizeof out[n].name, "%s", specs[i]);
        size_t len = strcspn(specs[i], ":");
        snprintf(out[n].backend, sizeof out[n].backend, "%.*s", (int)len, specs[i]);
        n++;
    }
    return n;
}
