/* test_cpu_gemm_select: how the cpu device picks its GEMM path
 * (backends/cpu/cpu_gemm_select.c), and both paths at model shapes.
 *
 *  - auto measures and picks a path, writes the cache; the next selection
 *    reads it (and really does: a cache saying the other path wins);
 *  - a cache with another key (CPU model, threads, library, build), a
 *    corrupt, truncated or empty one is ignored, measured again and
 *    rewritten;
 *  - an explicit request wins over the cache; an unknown one is an error;
 *  - a device opened in a fresh process reads the cache the first wrote,
 *    and cpu:gemm=own|blas|bogus behaves likewise through dt_device_open;
 *  - processes starting together with no cache agree: one measures, the
 *    others read its entry;
 *  - devices opened with different threads=N in one process each get a
 *    choice measured (and cached) with their own thread count;
 *  - both paths agree with a double reference on model-shaped GEMMs.
 * Timing is never asserted: which path wins is the machine's business. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/cpu/cpu_backend.h"
#include "distro_config.h"
#include "tests/test_util.h"

static int failures;

#define CHECK(cond, ...) TEST_CHECK(failures, cond, __VA_ARGS__)

static const char *source_name(cpu_gemm_source s) {
    return s == CPU_GEMM_EXPLICIT   ? "explicit"
           : s == CPU_GEMM_MEASURED ? "measured"
           : s == CPU_GEMM_CACHED   ? "cached"
                                    : "only";
}

static cpu_gemm_choice select_ok(const char *request, const char *file, const char *key) {
    cpu_gemm_choice c;
    dt_status st = cpu_gemm_select(request, "test", file, key, &c);
    CHECK(st == DT_OK, "select(%s): %s", request ? request : "auto", dt_last_error());
    printf("  select(%s, key %s): %s, %s\n", request ? request : "auto", key ? key : "-",
           source_name(c.source), c.reason);
    return c;
}

static void write_text(const char *file, const char *text, size_t len) {
    FILE *f = fopen(file, "wb");
    if (f) {
        fwrite(text, 1, len, f);
        fclose(f);
    }
}

static size_t read_text(const char *file, char *buf, size_t cap) {
    FILE *f = fopen(file, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n;
}

/* Measured, then cached, then the cache is what decides. */
static void check_cache_roundtrip(const char *file) {
    unlink(file);
    cpu_gemm_choice a = select_ok(NULL, file, "K1");
    CHECK(a.source == CPU_GEMM_MEASURED, "first auto selection: %s, want measured",
          source_name(a.source));
    CHECK(a.ratio > 0.0 && isfinite(a.ratio), "ratio %g", a.ratio);
    CHECK(access(file, R_OK) == 0, "no cache file %s after measuring", file);
    cpu_gemm_choice b = select_ok(NULL, file, "K1");
    CHECK(b.source == CPU_GEMM_CACHED && b.path == a.path, "second: %s path %d, want cached %d",
          source_name(b.source), b.path, a.path);
    CHECK(strstr(b.reason, "cached") != NULL, "reason '%s' does not say cached", b.reason);
    CHECK(fabs(b.ratio / a.ratio - 1.0) < 1e-5, "cached ratio %g vs measured %g", b.ratio, a.ratio);
    /* A cache saying the other path won must be obeyed: it is read, not
     * re-measured. */
    cpu_gemm_path other = a.path == CPU_GEMM_OWN ? CPU_GEMM_BLAS : CPU_GEMM_OWN;
    double ratio = other == CPU_GEMM_OWN ? 0.5 : 2.0;
    CHECK(cpu_gemm_cache_store(file, "K1", other, ratio), "cannot store %s", file);
    cpu_gemm_choice c = select_ok(NULL, file, "K1");
    CHECK(c.source == CPU_GEMM_CACHED && c.path == other, "stored path %d: got %s path %d", other,
          source_name(c.source), c.path);
    /* Another key (other CPU, library, threads or build): measured again,
     * and the file now holds the new key only. */
    cpu_gemm_choice d = select_ok(NULL, file, "K2");
    CHECK(d.source == CPU_GEMM_MEASURED, "other key: %s, want measured", source_name(d.source));
    cpu_gemm_path p;
    double r;
    CHECK(cpu_gemm_cache_load(file, "K2", &p, &r) && p == d.path, "cache not rewritten for K2");
    CHECK(!cpu_gemm_cache_load(file, "K1", &p, &r), "the K1 entry survived K2's measurement");
    CHECK(!cpu_gemm_cache_load(file, "K", &p, &r), "a prefix of the key matched");
}

/* Damaged files: ignored, measured again, rewritten. */
static void check_corrupt(const char *file) {
    char good[2048];
    CHECK(cpu_gemm_cache_store(file, "K1", CPU_GEMM_OWN, 0.5), "cannot store %s", file);
    size_t n = read_text(file, good, sizeof good);
    CHECK(n > 40, "cache file %s has %zu bytes", file, n);
    char bad[2048];
    for (int kind = 0; kind < 5; kind++) {
        memcpy(bad, good, n + 1);
        size_t len = n;
        const char *what;
        if (kind == 0) {
            what = "a changed path";
            char *pl = strstr(bad, "path own");
            if (pl) memcpy(pl, "path bla", 8);
        } else if (kind == 1) {
            what = "a changed ratio";
            char *rl = strstr(bad, "ratio 0.5");
            if (rl) rl[8] = '4';
        } else if (kind == 2) {
            what = "a truncated file";
            len = n / 2;
        } else if (kind == 3) {
            what = "an empty file";
            len = 0;
        } else {
            what = "a garbled check line";
            bad[n - 3] = 'x';
        }
        write_text(file, bad, len);
        printf("  cache with %s:\n", what);
        cpu_gemm_choice c = select_ok(NULL, file, "K1");
        CHECK(c.source == CPU_GEMM_MEASURED, "%s: %s, want measured", what, source_name(c.source));
        cpu_gemm_path p;
        double r;
        CHECK(cpu_gemm_cache_load(file, "K1", &p, &r) && p == c.path,
              "%s: the cache was not rewritten", what);
    }
}

static void check_explicit(const char *file) {
    CHECK(cpu_gemm_cache_store(file, "K1", CPU_GEMM_BLAS, 2.0), "cannot store %s", file);
    cpu_gemm_choice c = select_ok("own", file, "K1");
    CHECK(c.source == CPU_GEMM_EXPLICIT && c.path == CPU_GEMM_OWN, "own: %s path %d",
          source_name(c.source), c.path);
    CHECK(strstr(c.reason, "asked for: test=own") != NULL, "reason '%s'", c.reason);
    if (DISTRO_HAVE_CBLAS) {
        CHECK(cpu_gemm_cache_store(file, "K1", CPU_GEMM_OWN, 0.5), "cannot store %s", file);
        c = select_ok("blas", file, "K1");
        CHECK(c.source == CPU_GEMM_EXPLICIT && c.path == CPU_GEMM_BLAS, "blas: %s path %d",
              source_name(c.source), c.path);
    }
    cpu_gemm_choice bad;
    dt_status st = cpu_gemm_select("fast", "test", file, "K1", &bad);
    CHECK(st == DT_ERR_INVALID && strstr(dt_last_error(), "fast"),
          "request 'fast': status %d, '%s'", st, dt_last_error());
}

/* The child half of check_device: open the device, write its note. */
static int child_open(const char *out, const char *spec) {
    dt_device *dev = NULL;
    FILE *f = fopen(out, "w");
    if (!f) return 1;
    if (dt_device_open(spec, &dev) != DT_OK) {
        fprintf(f, "error: %s", dt_last_error());
        fclose(f);
        return 1;
    }
    fprintf(f, "%s", dt_device_get_info(dev)->note);
    fclose(f);
    dt_device_close(dev);
    return 0;
}

/* Devices opened with different thread counts in one process: each count
 * is measured with its own threads and cached in its own file. */
static int child_threads(void) {
    const char *specs[] = {"cpu:threads=1", "cpu:threads=2", "cpu:threads=1"};
    for (int i = 0; i < 3; i++) {
        dt_device *dev = NULL;
        if (dt_device_open(specs[i], &dev) != DT_OK) {
            printf("%s: %s\n", specs[i], dt_last_error());
            return 1;
        }
        printf("  %s: %s\n", specs[i], dt_device_get_info(dev)->note);
        dt_device_close(dev);
    }
    return 0;
}

static int count_cache_files(const char *dir) {
    char cmd[800], line[64] = "";
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '^cpu-gemm-.*\\.txt$'", dir);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    if (!fgets(line, sizeof line, p)) line[0] = '\0';
    pclose(p);
    return atoi(line);
}

/* dt_device_open in a fresh process: "cpu", or "cpu:gemm=GEMM". */
static void open_in_child(const char *self, const char *gemm, const char *out, char *note,
                          size_t len) {
    char spec[64] = "cpu";
    if (gemm) snprintf(spec, sizeof spec, "cpu:gemm=%s", gemm);
    note[0] = '\0';
    pid_t pid = fork();
    if (pid == 0) {
        execl(self, self, "--child", out, spec, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (pid > 0) waitpid(pid, &status, 0);
    read_text(out, note, len);
    printf("  process opening %s: %s\n", spec, note);
}

static void check_device(const char *self, const char *dir) {
    char out[600], note[512], file[700];
    snprintf(out, sizeof out, "%s/note.txt", dir);
    setenv("DISTRO_CACHE_DIR", dir, 1);
    CHECK(cpu_gemm_cache_file(file, sizeof file) && strncmp(file, dir, strlen(dir)) == 0,
          "cache file '%s' is not under DISTRO_CACHE_DIR %s", file, dir);
    open_in_child(self, NULL, out, note, sizeof note);
    CHECK(strncmp(note, "gemm: ", 6) == 0 && strstr(note, "measured") && !strstr(note, "cached"),
          "first process: '%s', want a fresh measurement", note);
    CHECK(access(file, R_OK) == 0, "no cache file %s after the first process", file);
    open_in_child(self, NULL, out, note, sizeof note);
    CHECK(strstr(note, "cached") != NULL, "second process: '%s', want the cached choice", note);
    open_in_child(self, "auto", out, note, sizeof note);
    CHECK(strstr(note, "cached") != NULL, "cpu:gemm=auto: '%s'", note);
    open_in_child(self, "own", out, note, sizeof note);
    CHECK(strncmp(note, "gemm: own kernel (asked for: cpu:gemm=own)", 43) == 0,
          "cpu:gemm=own: '%s'", note);
    if (DISTRO_HAVE_CBLAS) {
        open_in_child(self, "blas", out, note, sizeof note);
        CHECK(strstr(note, "asked for: cpu:gemm=blas") && !strstr(note, "own kernel"),
              "cpu:gemm=blas: '%s'", note);
    }
    open_in_child(self, "bogus", out, note, sizeof note);
    CHECK(strncmp(note, "error: ", 7) == 0 && strstr(note, "bogus"), "cpu:gemm=bogus: '%s'", note);
    /* The environment variable of old is no longer read. */
    setenv("DISTRO_CPU_GEMM", "bogus", 1);
    open_in_child(self, NULL, out, note, sizeof note);
    CHECK(strncmp(note, "gemm: ", 6) == 0, "DISTRO_CPU_GEMM=bogus was read: '%s'", note);
    unsetenv("DISTRO_CPU_GEMM");

    /* Processes starting together with no cache: one measures, the others
     * wait for its entry, so all agree on the path. */
    char dir3[700];
    snprintf(dir3, sizeof dir3, "%s/together", dir);
    setenv("DISTRO_CACHE_DIR", dir3, 1);
    fflush(stdout);
    enum { N_TOGETHER = 4 };
    pid_t pids[N_TOGETHER];
    char outs[N_TOGETHER][720];
    for (int i = 0; i < N_TOGETHER; i++) {
        snprintf(outs[i], sizeof outs[i], "%s/note%d.txt", dir, i);
        pids[i] = fork();
        if (pids[i] == 0) {
            execl(self, self, "--child", outs[i], "cpu", (char *)NULL);
            _exit(127);
        }
    }
    int measured = 0, own = 0;
    for (int i = 0; i < N_TOGETHER; i++) {
        int status = 1;
        if (pids[i] > 0) waitpid(pids[i], &status, 0);
        read_text(outs[i], note, sizeof note);
        printf("  together %d: %s\n", i, note);
        measured += strstr(note, "cached") == NULL;
        own += strncmp(note, "gemm: own", 9) == 0;
    }
    CHECK(measured == 1, "%d of %d processes started together measured, want 1", measured,
          N_TOGETHER);
    CHECK(own == 0 || own == N_TOGETHER, "processes started together disagree: %d of %d chose own",
          own, N_TOGETHER);

    char dir2[700];
    snprintf(dir2, sizeof dir2, "%s/threads", dir);
    setenv("DISTRO_CACHE_DIR", dir2, 1);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl(self, self, "--child-threads", (char *)NULL);
        _exit(127);
    }
    int status = 1;
    if (pid > 0) waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "opening cpu:threads=1,2,1 failed");
    int files = count_cache_files(dir2);
    CHECK(files == 2, "cpu:threads=1 and =2 left %d cache files, want one per thread count", files);
}

/* ---- both paths against a double reference at model shapes -------------- */

static double gemm_worst(cpu_gemm_path path, const dt_gemm_desc *d, const float *a, const float *b,
                         const float *c0, float *c) {
    memcpy(c, c0, (size_t)(d->batch * d->stride_c) * sizeof(float));
    cpu_gemm_host(path, d, a, b, c);
    return gemm_worst_error(d, a, b, c0, c);
}

static void check_model_shapes(void) {
    /* The small preset's forward (x W^T), dx (dy W) and dW (dy^T x, beta 1)
     * GEMMs at 256 rows, the tiny head at vocab 256, and attention-like
     * batched products with a ragged edge. */
    static const struct {
        int ta, tb;
        int64_t m, n, k, batch;
        float beta;
    } shapes[] = {
        {0, 1, 256, 1152, 384, 1, 0.0f},
        {0, 0, 256, 384, 1024, 1, 0.0f},
        {1, 0, 384, 1024, 256, 1, 1.0f},
        {0, 1, 256, 256, 64, 1, 0.0f},
        {0, 1, 100, 100, 32, 6, 0.0f},
        {0, 0, 100, 32, 100, 6, 0.0f},
        /* Ragged everywhere for the transposing packs (A and B^T): rows,
         * columns and k blocks that are no multiple of 16 or of the tile,
         * a second k block (past 384), beta neither 0 nor 1. */
        {0, 1, 37, 45, 77, 1, 0.5f},
        {0, 1, 50, 70, 401, 2, 1.0f},
        {0, 0, 13, 33, 19, 1, 0.0f},
    };
    rng r;
    rng_seed(&r, 20261206);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        dt_gemm_desc d;
        memset(&d, 0, sizeof d);
        d.trans_a = shapes[s].ta, d.trans_b = shapes[s].tb;
        d.m = shapes[s].m, d.n = shapes[s].n, d.k = shapes[s].k, d.batch = shapes[s].batch;
        d.alpha = 1.0f, d.beta = shapes[s].beta;
        d.lda = d.trans_a ? d.m : d.k, d.ldb = d.trans_b ? d.k : d.n, d.ldc = d.n;
        d.stride_a = d.m * d.k, d.stride_b = d.k * d.n, d.stride_c = d.m * d.n;
        size_t na = (size_t)(d.batch * d.stride_a), nb = (size_t)(d.batch * d.stride_b),
               nc = (size_t)(d.batch * d.stride_c);
        float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b),
              *c0 = malloc(nc * sizeof *c0), *c = malloc(nc * sizeof *c);
        if (!a || !b || !c0 || !c) {
            CHECK(0, "out of memory");
            return;
        }
        rng_fill(&r, a, na, 1.0f);
        rng_fill(&r, b, nb, 1.0f);
        if (d.beta != 0.0f)
            rng_fill(&r, c0, nc, 1.0f);
        else
            for (size_t i = 0; i < nc; i++) c0[i] = NAN; /* beta 0 must overwrite */
        for (int p = 0; p < 2; p++) {
            cpu_gemm_path path = p ? CPU_GEMM_OWN : CPU_GEMM_BLAS;
            if (path == CPU_GEMM_BLAS && !DISTRO_HAVE_CBLAS) continue;
            double worst = gemm_worst(path, &d, a, b, c0, c);
            printf("  %s %c%c m %lld n %lld k %lld batch %lld: worst error %.2e of sum |a b|\n",
                   p ? "own " : "blas", d.trans_a ? 'T' : 'N', d.trans_b ? 'T' : 'N',
                   (long long)d.m, (long long)d.n, (long long)d.k, (long long)d.batch, worst);
            /* fp32 sums of k terms: a few ulps times sqrt(k) at most. */
            CHECK(worst < 1e-5, "%s path: error %.2e at this shape", p ? "own" : "blas", worst);
        }
        free(a);
        free(b);
        free(c0);
        free(c);
    }
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--child") == 0) return child_open(argv[2], argv[3]);
    if (argc == 2 && strcmp(argv[1], "--child-threads") == 0) return child_threads();
    char dir[] = "/tmp/distro-gemm-select-XXXXXX";
    if (!mkdtemp(dir)) {
        printf("FAIL: cannot make a temporary directory\n");
        return 1;
    }
    char file[600];
    snprintf(file, sizeof file, "%s/sub/dir/cpu-gemm-test.txt", dir);

    printf("explicit requests:\n");
    check_explicit(file);
    printf("both paths against a double reference at model shapes:\n");
    check_model_shapes();
    if (DISTRO_HAVE_CBLAS) {
        printf("the cache:\n");
        check_cache_roundtrip(file);
        printf("damaged caches:\n");
        check_corrupt(file);
        printf("through dt_device_open in fresh processes:\n");
        check_device(argv[0], dir);
    } else {
        cpu_gemm_choice c = select_ok(NULL, file, "K1");
        CHECK(c.path == CPU_GEMM_OWN && c.source == CPU_GEMM_ONLY, "no CBLAS: %s path %d",
              source_name(c.source), c.path);
        cpu_gemm_choice bad;
        CHECK(cpu_gemm_select("blas", "test", file, "K1", &bad) == DT_ERR_UNSUPPORTED,
              "blas without CBLAS was not refused");
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    if (failures) {
        printf("FAIL: %d checks failed\n", failures);
        return 1;
    }
    if (!DISTRO_HAVE_CBLAS) {
        printf("SKIP: this build has no CBLAS, so there is nothing to measure or cache (the own "
               "kernel is the only path; its explicit and model-shape checks passed)\n");
        return TEST_SKIP;
    }
    printf("PASS\n");
    return 0;
}
