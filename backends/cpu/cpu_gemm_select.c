/* Which GEMM path a cpu device uses: CBLAS (OpenBLAS) or the own blocked
 * kernel, chosen by measurement at first use and cached on disk.
 *
 * Why measure: which path wins depends on the machine and on how OpenBLAS
 * sees it. Debian 12's OpenBLAS 0.3.21 takes a Sapphire Rapids core for a
 * "Prescott" and ran 0.3 GFLOP/s at 128^3 where the own kernel ran 111
 * (issue 10); on other machines OpenBLAS wins. A fixed default is wrong
 * somewhere, so each machine measures both paths once, through the same
 * OpenMP split the ops use, on model-shaped problems (the forward, dx and dW
 * GEMMs of the tiny and small presets), and keeps the faster one that is also
 * correct (a path whose results disagree with a double reference is never
 * chosen). An explicit request (the device option cpu:gemm=) wins.
 *
 * The score is the geometric mean over the shapes of the time ratio
 * own / BLAS, each time the best of interleaved runs, so a burst of load on
 * a shared machine hits both paths alike and small and large shapes count
 * the same. The whole measurement stays well under a second at tens of
 * GFLOP/s and stops early past MEASURE_BUDGET_S.
 *
 * Cache: one small text file per CPU and thread count,
 *   $DISTRO_CACHE_DIR/cpu-gemm-<16 hex>.txt, else
 *   $XDG_CACHE_HOME/distro/cpu/..., else ~/.cache/distro/cpu/...
 * (the directory rules of the OpenCL program cache). Its lines:
 *   distro-cpu-gemm 1
 *   key <CPU model, family, flags hash, threads, BLAS config and core, build>
 *   path own|blas
 *   ratio <own/BLAS time ratio>
 *   check <FNV-1a 64 of the lines above, 16 hex>
 * A file whose key differs (another CPU, thread count, OpenBLAS version or
 * distro build) or that fails any check is ignored; the new measurement
 * overwrites it (temp file + rename, so concurrent writers never mix). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "backends/cpu/cpu_backend.h"
#include "distro_config.h"
#include "runtime/file_io.h"

#if DISTRO_HAVE_CBLAS
#include <cblas.h>
#endif

#define CACHE_FORMAT     1
#define MEASURE_BUDGET_S 1.5
/* Each timed run repeats a GEMM until it has taken this long. */
#define RUN_MIN_S 0.002

/* ---- identity: cache key and file ---------------------------------------- */

static uint64_t fnv1a(uint64_t h, const char *s) {
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}
#define FNV_SEED 0xcbf29ce484222325ULL

/* Value of the first "key : value" line of /proc/cpuinfo, "" if none. */
static void cpuinfo(const char *key, char *out, size_t len) {
    out[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[4096];
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, key, klen) != 0 || !colon) continue;
        if (line[klen] != ' ' && line[klen] != '\t' && line + klen != colon) continue;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        v[strcspn(v, "\n")] = '\0';
        dt_strlcpy(out, v, len);
        break;
    }
    fclose(f);
}

static int gemm_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* The BLAS as loaded at run time (it may differ from the one built against). */
static void blas_identity(char *out, size_t len) {
#if DISTRO_HAVE_CBLAS
    snprintf(out, len, "%s; core %s", openblas_get_config(), openblas_get_corename());
#else
    snprintf(out, len, "none");
#endif
}

/* "OpenBLAS 0.3.21 (Cooperlake)": the library's name, version and core. */
static void blas_label(char *out, size_t len) {
#if DISTRO_HAVE_CBLAS
    /* The config starts "OpenBLAS 0.3.21 "; keep those two words. */
    const char *cfg = openblas_get_config();
    size_t n = strcspn(cfg, " ");
    if (cfg[n] == ' ') n += 1 + strcspn(cfg + n + 1, " ");
    snprintf(out, len, "%.*s (%s)", (int)n, cfg, openblas_get_corename());
#else
    snprintf(out, len, "no BLAS");
#endif
}

void cpu_gemm_cache_key(char *out, size_t len) {
    char model[256], family[32], mnum[32], stepping[32], flags[4096], blas[256];
    cpuinfo("model name", model, sizeof model);
    cpuinfo("cpu family", family, sizeof family);
    cpuinfo("model", mnum, sizeof mnum);
    cpuinfo("stepping", stepping, sizeof stepping);
    cpuinfo("flags", flags, sizeof flags);
    blas_identity(blas, sizeof blas);
    snprintf(out, len,
             "cpu %s, family %s model %s stepping %s, flags %016llx | threads %d | %s | "
             "distro %s %s",
             model[0] ? model : "unknown", family, mnum, stepping,
             (unsigned long long)fnv1a(FNV_SEED, flags), gemm_threads(), blas, DISTRO_VERSION,
             DISTRO_GIT_COMMIT);
}

int cpu_gemm_cache_file(char *out, size_t len) {
    char dir[512];
    if (!dt_cache_dir("cpu", dir, sizeof dir)) return 0;
    /* The name depends on the CPU and thread count only: a new OpenBLAS or
     * distro build overwrites the stale entry instead of adding one. */
    char model[256], ident[320];
    cpuinfo("model name", model, sizeof model);
    snprintf(ident, sizeof ident, "%s|%d", model, gemm_threads());
    int n = snprintf(out, len, "%s/cpu-gemm-%016llx.txt", dir,
                     (unsigned long long)fnv1a(FNV_SEED, ident));
    return n > 0 && (size_t)n < len;
}

/* ---- the cache file: one writer, one reader ------------------------------ */

static void cache_body(char *out, size_t len, const char *key, cpu_gemm_path path, double ratio) {
    snprintf(out, len, "distro-cpu-gemm %d\nkey %s\npath %s\nratio %.6g\n", CACHE_FORMAT, key,
             path == CPU_GEMM_OWN ? "own" : "blas", ratio);
}

int cpu_gemm_cache_store(const char *file, const char *key, cpu_gemm_path path, double ratio) {
    char dir[600], body[1024], tmp[640];
    dt_strlcpy(dir, file, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (dt_make_dirs(dir) != 0) return 0;
    }
    cache_body(body, sizeof body, key, path, ratio);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", file, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return 0;
    int ok = fprintf(f, "%scheck %016llx\n", body, (unsigned long long)fnv1a(FNV_SEED, body)) > 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, file) != 0) {
        unlink(tmp);
        return 0;
    }
    return 1;
}

int cpu_gemm_cache_load(const char *file, const char *key, cpu_gemm_path *path, double *ratio) {
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    char text[2048];
    size_t n = fread(text, 1, sizeof text - 1, f);
    int whole = feof(f) && !ferror(f);
    fclose(f);
    if (!whole) return 0;
    text[n] = '\0';
    /* The last line is the check of everything before it. */
    const size_t check_len = 6 + 16 + 1; /* "check " + 16 hex + "\n" */
    if (n < check_len + 1) return 0;
    char *check = text + n - check_len;
    unsigned long long want = 0;
    if (check[-1] != '\n' || strncmp(check, "check ", 6) != 0 || check[check_len - 1] != '\n' ||
        strspn(check + 6, "0123456789abcdef") != 16 || sscanf(check + 6, "%16llx", &want) != 1)
        return 0;
    *check = '\0';
    if (fnv1a(FNV_SEED, text) != want) return 0;
    char stored_path[8];
    double r = 0.0;
    const char *k = strstr(text, "\nkey ");
    const char *p = strstr(text, "\npath ");
    const char *q = strstr(text, "\nratio ");
    if (strncmp(text, "distro-cpu-gemm 1\n", 18) != 0 || !k || !p || !q) return 0;
    size_t klen = strcspn(k + 5, "\n");
    if (klen != strlen(key) || strncmp(k + 5, key, klen) != 0) return 0;
    if (sscanf(p, "\npath %7s", stored_path) != 1 || sscanf(q, "\nratio %lf", &r) != 1) return 0;
    if (strcmp(stored_path, "own") == 0)
        *path = CPU_GEMM_OWN;
    else if (strcmp(stored_path, "blas") == 0 && DISTRO_HAVE_CBLAS)
        *path = CPU_GEMM_BLAS;
    else
        return 0;
    if (!(r > 0.0) || !isfinite(r)) return 0;
    *ratio = r;
    return 1;
}

/* ---- measurement --------------------------------------------------------- */

#if DISTRO_HAVE_CBLAS
typedef struct shape {
    int ta, tb;
    int64_t m, n, k;
} shape;

/* y = x W^T (forward), dx = dy W and dW = dy^T x (backward), rows being
 * batch x sequence positions: the tiny preset (dim 64, SwiGLU 192), a 128^3
 * square, and the small preset (dim 384, qkv 1152, SwiGLU 1024), all at 256
 * rows (more rows repeat the same blocking; fewer milliseconds per call
 * leave room for more calls, so a clean run is likelier on a busy machine). */
/* Large and small alternate, so a budget cut on a busy machine leaves both. */
static const shape shapes[] = {
    {0, 1, 256, 1152, 384}, {0, 1, 256, 192, 64}, {0, 0, 256, 384, 1024}, {0, 0, 256, 64, 192},
    {1, 0, 384, 1024, 256}, {1, 0, 192, 64, 256}, {0, 1, 128, 128, 128},
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

static dt_gemm_desc shape_desc(const shape *s) {
    dt_gemm_desc d;
    memset(&d, 0, sizeof d);
    d.trans_a = s->ta;
    d.trans_b = s->tb;
    d.m = s->m;
    d.n = s->n;
    d.k = s->k;
    d.alpha = 1.0f;
    d.beta = 0.0f;
    d.lda = s->ta ? s->m : s->k;
    d.ldb = s->tb ? s->k : s->n;
    d.ldc = s->n;
    d.batch = 1;
    return d;
}

/* Seconds per GEMM: the fastest of calls repeated for RUN_MIN_S (and at
 * least twice). The minimum, not the mean: on a shared machine a call that
 * lost its core to another process says nothing about the path. */
static double time_run(cpu_gemm_path path, const dt_gemm_desc *d, const float *a, const float *b,
                       float *c) {
    double best = INFINITY;
    const double start = dt_seconds();
    for (int reps = 0; reps < 2 || dt_seconds() - start < RUN_MIN_S; reps++) {
        const double t0 = dt_seconds();
        cpu_gemm_host(path, d, a, b, c);
        const double t = dt_seconds() - t0;
        if (t < best) best = t;
    }
    return best;
}

/* A few entries of C against a double-precision sum: a path that gets a
 * model shape wrong is never chosen, however fast. */
static int check_result(const dt_gemm_desc *d, const float *a, const float *b, const float *c) {
    for (int s = 0; s < 16; s++) {
        int64_t i = (int64_t)((uint64_t)(s * 7919 + 13) % (uint64_t)d->m);
        int64_t j = (int64_t)((uint64_t)(s * 104729 + 7) % (uint64_t)d->n);
        if (s == 15) i = d->m - 1, j = d->n - 1;
        double sum = 0.0, mag = 0.0;
        for (int64_t p = 0; p < d->k; p++) {
            double av = d->trans_a ? a[p * d->lda + i] : a[i * d->lda + p];
            double bv = d->trans_b ? b[j * d->ldb + p] : b[p * d->ldb + j];
            sum += av * bv;
            mag += fabs(av * bv);
        }
        double got = c[i * d->ldc + j];
        if (!(fabs(got - sum) <= 1e-5 * mag + 1e-30)) return 0;
    }
    return 1;
}

typedef struct measure {
    double log_ratio; /* sum over shapes of log(own / BLAS) */
    int shapes;
    int own_ok, blas_ok;
} measure;

static void measure_shape(const shape *s, float *a, float *b, float *c, measure *m) {
    const dt_gemm_desc d = shape_desc(s);
    const size_t c_len = (size_t)(s->m * s->n);
    double best[2] = {INFINITY, INFINITY};
    /* Warm-up (page faults, OpenBLAS buffers, the team), then four rounds
     * each, interleaved so a burst of load hits both paths. */
    for (int round = 0; round < 5; round++) {
        for (int p = 0; p < 2; p++) {
            double t = time_run(p ? CPU_GEMM_OWN : CPU_GEMM_BLAS, &d, a, b, c);
            if (round > 0 && t < best[p]) best[p] = t;
        }
    }
    for (int p = 0; p < 2; p++) {
        for (size_t i = 0; i < c_len; i++) c[i] = NAN; /* beta = 0 must overwrite */
        cpu_gemm_host(p ? CPU_GEMM_OWN : CPU_GEMM_BLAS, &d, a, b, c);
        if (!check_result(&d, a, b, c)) *(p ? &m->own_ok : &m->blas_ok) = 0;
    }
    m->log_ratio += log(best[1] / best[0]);
    m->shapes++;
}

/* Both paths on every shape (until the budget runs out); 0 when no memory. */
static int measure_paths(measure *m) {
    size_t max_a = 0, max_b = 0, max_c = 0;
    for (int i = 0; i < N_SHAPES; i++) {
        size_t sa = (size_t)(shapes[i].m * shapes[i].k), sb = (size_t)(shapes[i].k * shapes[i].n),
               sc = (size_t)(shapes[i].m * shapes[i].n);
        max_a = sa > max_a ? sa : max_a;
        max_b = sb > max_b ? sb : max_b;
        max_c = sc > max_c ? sc : max_c;
    }
    float *a = aligned_alloc(64, (max_a * sizeof(float) + 63) / 64 * 64);
    float *b = aligned_alloc(64, (max_b * sizeof(float) + 63) / 64 * 64);
    float *c = aligned_alloc(64, (max_c * sizeof(float) + 63) / 64 * 64);
    int ok = a && b && c;
    if (ok) {
        uint32_t x = 12345u;
        for (size_t i = 0; i < max_a; i++)
            a[i] = (float)((x = x * 1664525u + 1013904223u) >> 8) * 0x1p-23f - 1.0f;
        for (size_t i = 0; i < max_b; i++)
            b[i] = (float)((x = x * 1664525u + 1013904223u) >> 8) * 0x1p-23f - 1.0f;
        memset(m, 0, sizeof *m);
        m->own_ok = m->blas_ok = 1;
        const double t0 = dt_seconds();
        for (int i = 0; i < N_SHAPES && dt_seconds() - t0 < MEASURE_BUDGET_S; i++)
            measure_shape(&shapes[i], a, b, c, m);
    }
    free(a);
    free(b);
    free(c);
    return ok;
}
#endif

/* ---- the choice ---------------------------------------------------------- */

static void describe(cpu_gemm_choice *out, const char *detail) {
    char blas[48]; /* a label, cut short if need be, so the reason fits */
    blas_label(blas, sizeof blas);
    const double r = out->ratio;
    switch (out->source) {
    case CPU_GEMM_MEASURED:
    case CPU_GEMM_CACHED:
        if (out->path == CPU_GEMM_OWN)
            snprintf(out->reason, sizeof out->reason,
                     "own kernel (measured %.2fx %s at model shapes%s)", 1.0 / r, blas,
                     out->source == CPU_GEMM_CACHED ? "; cached" : "");
        else
            snprintf(out->reason, sizeof out->reason,
                     "%s (measured %.2fx the blocked kernel at model shapes%s)", blas, r,
                     out->source == CPU_GEMM_CACHED ? "; cached" : "");
        break;
    default:
        snprintf(out->reason, sizeof out->reason, "%s (%.80s)",
                 out->path == CPU_GEMM_OWN ? "own kernel" : blas, detail);
        break;
    }
}

#if DISTRO_HAVE_CBLAS
/* Both paths measured: the faster correct one (not cached when one path
 * was wrong: that may be a transient fault worth measuring again). */
static dt_status measure_choice(cpu_gemm_choice *out) {
    measure m;
    if (!measure_paths(&m))
        return dt_error(DT_ERR_OOM, "cpu: cannot allocate the GEMM measurement buffers");
    out->ratio = exp(m.log_ratio / m.shapes);
    if (!m.own_ok || !m.blas_ok) {
        char blas[48], detail[96];
        blas_label(blas, sizeof blas);
        snprintf(detail, sizeof detail, "%s gave wrong results at model shapes",
                 m.own_ok ? blas : "the blocked kernel");
        out->path = m.own_ok ? CPU_GEMM_OWN : CPU_GEMM_BLAS;
        out->source = CPU_GEMM_ONLY;
        describe(out, detail);
        return DT_OK;
    }
    out->path = out->ratio <= 1.0 ? CPU_GEMM_OWN : CPU_GEMM_BLAS;
    out->source = CPU_GEMM_MEASURED;
    describe(out, "");
    return DT_OK;
}

/* An exclusive lock on <file>.lock (its folder made first); -1 when none
 * can be had, and then each process measures for itself. */
static int cache_lock(const char *file) {
    char dir[600], path[640];
    dt_strlcpy(dir, file, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (dt_make_dirs(dir) != 0) return -1;
    }
    snprintf(path, sizeof path, "%s.lock", file);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

static void cache_unlock(int fd) {
    if (fd < 0) return;
    flock(fd, LOCK_UN);
    close(fd);
}
#endif

dt_status cpu_gemm_select(const char *request, const char *origin, const char *cache_file,
                          const char *key, cpu_gemm_choice *out) {
    memset(out, 0, sizeof *out);
    char detail[128];
    if (request && *request && strcmp(request, "auto") != 0) {
        if (strcmp(request, "own") != 0 && strcmp(request, "blas") != 0)
            return dt_error(DT_ERR_INVALID, "%s: unknown GEMM path '%s' (own, blas or auto)",
                            origin ? origin : "gemm", request);
        if (strcmp(request, "blas") == 0 && !DISTRO_HAVE_CBLAS)
            return dt_error(DT_ERR_UNSUPPORTED,
                            "%s=blas, but this build has no CBLAS (OpenBLAS was not found "
                            "at configure time); use own or auto",
                            origin ? origin : "gemm");
        out->path = strcmp(request, "own") == 0 ? CPU_GEMM_OWN : CPU_GEMM_BLAS;
        out->source = CPU_GEMM_EXPLICIT;
        snprintf(detail, sizeof detail, "asked for: %s=%s", origin ? origin : "gemm", request);
        describe(out, detail);
        return DT_OK;
    }
#if !DISTRO_HAVE_CBLAS
    (void)cache_file;
    (void)key;
    out->path = CPU_GEMM_OWN;
    out->source = CPU_GEMM_ONLY;
    describe(out, "no CBLAS in this build");
    return DT_OK;
#else
    if (cache_file && key && cpu_gemm_cache_load(cache_file, key, &out->path, &out->ratio)) {
        out->source = CPU_GEMM_CACHED;
        describe(out, "");
        return DT_OK;
    }
    /* Processes that start together on a machine without a cache entry
     * (a test suite, the peers of `run`) must agree, or a run split over
     * them would not repeat bit for bit: the first measures under the lock,
     * the others wait and read its entry. */
    int lock = cache_file && key ? cache_lock(cache_file) : -1;
    if (lock >= 0 && cpu_gemm_cache_load(cache_file, key, &out->path, &out->ratio)) {
        out->source = CPU_GEMM_CACHED;
        describe(out, "");
        cache_unlock(lock);
        return DT_OK;
    }
    dt_status st = measure_choice(out);
    if (st == DT_OK && out->source == CPU_GEMM_MEASURED && cache_file && key)
        cpu_gemm_cache_store(cache_file, key, out->path, out->ratio);
    cache_unlock(lock);
    return st;
#endif
}

/* The automatic choice is made once per process and thread count (under a
 * lock: devices may open on several threads; a device opened with
 * threads=N measures with N threads); explicit requests are never
 * remembered. */
static pthread_mutex_t choice_lock = PTHREAD_MUTEX_INITIALIZER;
static int choice_threads; /* 0: none yet */
static cpu_gemm_choice process_choice;

dt_status cpu_gemm_choose(const char *request, const char *origin, cpu_gemm_choice *out) {
    if (request && *request && strcmp(request, "auto") != 0)
        return cpu_gemm_select(request, origin, NULL, NULL, out);
    dt_status st = DT_OK;
    pthread_mutex_lock(&choice_lock);
    if (choice_threads != gemm_threads()) {
        char file[700], key[1024];
        int have_file = cpu_gemm_cache_file(file, sizeof file);
        cpu_gemm_cache_key(key, sizeof key);
        st = cpu_gemm_select(NULL, origin, have_file ? file : NULL, key, &process_choice);
        choice_threads = st == DT_OK ? gemm_threads() : 0;
    }
    if (st == DT_OK) *out = process_choice;
    pthread_mutex_unlock(&choice_lock);
    return st;
}
