/* test_gemm_isa: the own GEMM kernel as other machines compile it. The
 * suite's build targets this machine (-march=native, AVX-512 here), so the
 * kernel's AVX/AVX2 path (8-wide register tiles, 8 x 8 transposing packs)
 * and its plain-C path would otherwise never run in a test, though most
 * users' CPUs take the first. CMake compiles backends/cpu/cpu_gemm_blocked.c
 * three more times, renamed:
 *   cpu_gemm_blocked_avx2     x86-64 + AVX2 + FMA
 *   cpu_gemm_blocked_avx      x86-64 + AVX (no FMA: separate mul and add)
 *   cpu_gemm_blocked_sse2     x86-64 baseline (GCC vectors lowered to SSE2)
 * Each runs ragged shapes of every transpose against a double reference.
 * And since every variant sums each C element in the same order, a variant
 * with FMA must give the native kernel's bits exactly when the native build
 * has FMA too: the cross-machine determinism the cpu backend claims.
 * A variant this CPU cannot run is skipped, saying so; on a CPU other than
 * x86-64 the whole test skips (CMake builds no variants there). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_backend.h"
#include "tests/test_util.h"

#if defined(__x86_64__) && defined(DISTRO_GEMM_ISA_VARIANTS)
typedef void gemm_fn(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                     int64_t ldc);
gemm_fn cpu_gemm_blocked_avx2, cpu_gemm_blocked_avx, cpu_gemm_blocked_sse2;

static int failures;
#define CHECK(...) TEST_CHECK(failures, __VA_ARGS__)

static const struct variant {
    const char *name;
    gemm_fn *fn;
    int runs_here; /* set in main */
    int fma;
} variants_init[] = {
    {"avx2+fma", cpu_gemm_blocked_avx2, 0, 1},
    {"avx", cpu_gemm_blocked_avx, 0, 0},
    {"sse2", cpu_gemm_blocked_sse2, 0, 0},
};
#define N_VARIANTS 3

static const struct {
    int ta, tb;
    int64_t m, n, k;
    float alpha, beta;
} shapes[] = {
    {0, 1, 37, 45, 77, 1.0f, 0.0f},    {0, 1, 50, 70, 401, 1.0f, 1.0f},
    {0, 0, 13, 33, 19, 1.0f, 0.0f},    {1, 0, 29, 17, 300, 0.5f, 0.25f},
    {1, 1, 6, 16, 8, 1.0f, 0.0f},      {0, 1, 256, 192, 64, 1.0f, 0.0f},
    {0, 0, 100, 130, 513, 2.0f, 0.0f}, {1, 0, 192, 64, 256, 1.0f, 1.0f},
    {0, 0, 47, 40, 33, 1.0f, 0.0f}, /* the last A sliver 11 rows (AVX-512) or 5 */
};

static void check_shape(int s, struct variant *v, int n_variants) {
    dt_gemm_desc d;
    memset(&d, 0, sizeof d);
    d.trans_a = shapes[s].ta, d.trans_b = shapes[s].tb;
    d.m = shapes[s].m, d.n = shapes[s].n, d.k = shapes[s].k, d.batch = 1;
    d.alpha = shapes[s].alpha, d.beta = shapes[s].beta;
    d.lda = (d.trans_a ? d.m : d.k) + 3; /* padded rows: lda is honoured */
    d.ldb = (d.trans_b ? d.k : d.n) + 1;
    d.ldc = d.n + 2;
    const size_t na = (size_t)((d.trans_a ? d.k : d.m) * d.lda),
                 nb = (size_t)((d.trans_b ? d.n : d.k) * d.ldb), nc = (size_t)(d.m * d.ldc);
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c0 = malloc(nc * sizeof *c0),
          *native = malloc(nc * sizeof *c0), *c = malloc(nc * sizeof *c);
    if (!a || !b || !c0 || !native || !c) {
        CHECK(0, "out of memory");
        goto done;
    }
    rng r;
    rng_seed(&r, 20261206 + (uint64_t)s);
    rng_fill(&r, a, na, 1.0f);
    rng_fill(&r, b, nb, 1.0f);
    rng_fill(&r, c0, nc, 1.0f);
    memcpy(native, c0, nc * sizeof *c0);
    cpu_gemm_blocked(d.trans_a, d.trans_b, d.m, d.n, d.k, d.alpha, a, d.lda, b, d.ldb, d.beta,
                     native, d.ldc);
    for (int i = 0; i < n_variants; i++) {
        if (!v[i].runs_here) continue;
        memcpy(c, c0, nc * sizeof *c0);
        v[i].fn(d.trans_a, d.trans_b, d.m, d.n, d.k, d.alpha, a, d.lda, b, d.ldb, d.beta, c, d.ldc);
        const double worst = gemm_worst_error(&d, a, b, c0, c);
        /* Padding between rows of C is never written. */
        int pad_ok = 1;
        for (int64_t row = 0; row < d.m; row++)
            for (int64_t j = d.n; j < d.ldc; j++)
                pad_ok &= memcmp(&c[row * d.ldc + j], &c0[row * d.ldc + j], sizeof(float)) == 0;
        int same_bits = memcmp(c, native, nc * sizeof *c) == 0;
        printf("  %-8s %c%c m %3lld n %3lld k %3lld: worst error %.2e%s\n", v[i].name,
               d.trans_a ? 'T' : 'N', d.trans_b ? 'T' : 'N', (long long)d.m, (long long)d.n,
               (long long)d.k, worst, same_bits ? ", the native kernel's bits" : "");
        CHECK(worst < 1e-5, "%s: error %.2e", v[i].name, worst);
        CHECK(pad_ok, "%s: wrote into the padding of C's rows", v[i].name);
#ifdef __FMA__
        if (v[i].fma)
            CHECK(same_bits,
                  "%s: bits differ from the native kernel's (both fuse multiply-adds "
                  "and sum in the same order)",
                  v[i].name);
#endif
    }
done:
    free(a);
    free(b);
    free(c0);
    free(native);
    free(c);
}

int main(void) {
    struct variant v[N_VARIANTS];
    memcpy(v, variants_init, sizeof v);
    __builtin_cpu_init();
    v[0].runs_here = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    v[1].runs_here = !!__builtin_cpu_supports("avx");
    v[2].runs_here = 1;
    int ran = 0;
    for (int i = 0; i < N_VARIANTS; i++) {
        if (!v[i].runs_here) printf("  %s: this CPU lacks it, not run\n", v[i].name);
        ran += v[i].runs_here;
    }
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) check_shape(s, v, N_VARIANTS);
    printf("%s: %d variants run, %d failures\n", failures ? "FAIL" : "PASS", ran, failures);
    return failures ? 1 : 0;
}
#else
int main(void) {
    printf("SKIP: the ISA variants of the own GEMM are built for x86-64 only\n");
    return TEST_SKIP;
}
#endif
