/* test_dct: the host arithmetic of DeMo that every replica must share (DCT
 * basis, tile plan, reciprocal and RoPE tables) against hand-checked values
 * and first principles, and an encode -> top-k(all) -> decode_sub round
 * trip on the cpu device that must give back zero. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/test_util.h"

static int failures;

#define CHECK(cond, ...) TEST_CHECK(failures, cond, __VA_ARGS__)

static const double PI = 3.14159265358979323846;

static void test_basis(void) {
    static const int64_t ns[] = {1, 2, 3, 4, 8, 17, 64};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        int64_t n = ns[t];
        float *f = malloc(sizeof(float) * (size_t)(n * n));
        dt_dct_basis(n, f);
        double worst_formula = 0.0, worst_rows = 0.0, worst_cols = 0.0;
        for (int64_t s = 0; s < n; s++)
            for (int64_t j = 0; j < n; j++) {
                double cj = j == 0 ? sqrt(1.0 / (double)n) : sqrt(2.0 / (double)n);
                double e = cj * cos(PI * (double)(2 * s + 1) * (double)j / (2.0 * (double)n));
                worst_formula = fmax(worst_formula, fabs(f[s * n + j] - e));
            }
        /* Orthonormal: F^T F = I (columns) and F F^T = I (rows). */
        for (int64_t a = 0; a < n; a++)
            for (int64_t b = 0; b < n; b++) {
                double cols = 0.0, rows = 0.0;
                for (int64_t i = 0; i < n; i++) {
                    cols += (double)f[i * n + a] * f[i * n + b];
                    rows += (double)f[a * n + i] * f[b * n + i];
                }
                double id = a == b ? 1.0 : 0.0;
                worst_cols = fmax(worst_cols, fabs(cols - id));
                worst_rows = fmax(worst_rows, fabs(rows - id));
            }
        CHECK(worst_formula <= 1e-7, "dct basis n=%lld: off the formula by %g", (long long)n,
              worst_formula);
        CHECK(worst_cols <= 2e-6 && worst_rows <= 2e-6,
              "dct basis n=%lld: not orthonormal (F^T F off by %g, F F^T off by %g)", (long long)n,
              worst_cols, worst_rows);
        printf("  dct basis n=%-3lld formula %.2g, F^T F - I %.2g, F F^T - I %.2g\n", (long long)n,
               worst_formula, worst_cols, worst_rows);
        free(f);
    }
    /* N = 4 by hand, rows indexed by sample. */
    static const float want4[16] = {0.5f,  0.6533f,  0.5f, 0.2706f,  0.5f,  0.2706f,
                                    -0.5f, -0.6533f, 0.5f, -0.2706f, -0.5f, 0.6533f,
                                    0.5f,  -0.6533f, 0.5f, -0.2706f};
    float f4[16];
    dt_dct_basis(4, f4);
    for (int i = 0; i < 16; i++)
        CHECK(fabsf(f4[i] - want4[i]) <= 1e-4f, "dct basis n=4 [%d][%d] = %.5f, expected %.4f",
              i / 4, i % 4, (double)f4[i], (double)want4[i]);
}

static int64_t brute_chunk(int64_t n, int64_t target) {
    int64_t best = 1;
    for (int64_t d = 1; d <= n && d <= target; d++)
        if (n % d == 0) best = d;
    return best;
}

static int is_prime(int64_t p) {
    if (p < 2) return 0;
    for (int64_t d = 2; d * d <= p; d++)
        if (p % d == 0) return 0;
    return 1;
}

static void test_chunk(void) {
    static const int64_t cases[][3] = {{12, 3, 3},     {12, 4, 4},      {12, 5, 4},
                                       {100, 7, 5},    {100, 26, 25},   {100, 101, 100},
                                       {2048, 64, 64}, {50257, 64, 29}, {4097, 64, 17}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t got = dt_demo_chunk(cases[i][0], cases[i][1]);
        CHECK(got == cases[i][2], "dt_demo_chunk(%lld, %lld) = %lld, expected %lld",
              (long long)cases[i][0], (long long)cases[i][1], (long long)got,
              (long long)cases[i][2]);
    }
    int primes = 0;
    for (int64_t p = 65; p < 2000; p++) {
        if (!is_prime(p)) continue;
        primes++;
        int64_t got = dt_demo_chunk(p, 64);
        CHECK(got == 1, "dt_demo_chunk(%lld, 64) = %lld for a prime above 64, expected 1",
              (long long)p, (long long)got);
    }
    /* The rule itself, "largest divisor <= target", for every small case. */
    static const int64_t targets[] = {1, 2, 5, 7, 64};
    int bad = 0;
    for (int64_t n = 1; n <= 3000 && bad < 5; n++)
        for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
            int64_t got = dt_demo_chunk(n, targets[t]), want = brute_chunk(n, targets[t]);
            if (got != want) bad++;
            CHECK(got == want, "dt_demo_chunk(%lld, %lld) = %lld, expected %lld", (long long)n,
                  (long long)targets[t], (long long)got, (long long)want);
        }
    printf("  chunk rule: %d primes in (64, 2000) checked, n = 1..3000 brute-forced\n", primes);
}

static void test_plan(void) {
    struct {
        int ndim;
        int64_t shape[4], chunk;
        dt_tile_plan want; /* rows, cols, tile_rows, tile_cols, tiles_per_row, n_tiles, size */
    } cases[] = {
        {1, {1000}, 64, {1, 1000, 1, 50, 20, 20, 50}},
        {1, {97}, 64, {1, 97, 1, 1, 97, 97, 1}},
        {1, {64}, 64, {1, 64, 1, 64, 1, 1, 64}},
        {2, {128, 192}, 64, {128, 192, 64, 64, 3, 6, 4096}},
        {2, {21, 65}, 64, {21, 65, 21, 13, 5, 5, 273}},
        {2, {67, 71}, 64, {67, 71, 1, 1, 71, 4757, 1}},
        {2, {768, 50257}, 64, {768, 50257, 64, 29, 1733, 12 * 1733, 64 * 29}},
        {3, {2, 48, 40}, 64, {96, 40, 48, 40, 1, 2, 1920}},
        {4, {3, 2, 10, 12}, 5, {60, 12, 5, 4, 3, 36, 20}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dt_tile_plan p;
        memset(&p, 0xFF, sizeof p);
        dt_status st = dt_demo_tile_plan(cases[i].ndim, cases[i].shape, cases[i].chunk, &p);
        const dt_tile_plan *w = &cases[i].want;
        CHECK(st == DT_OK, "dt_demo_tile_plan case %zu: %s", i, dt_last_error());
        CHECK(st != DT_OK ||
                  (p.rows == w->rows && p.cols == w->cols && p.tile_rows == w->tile_rows &&
                   p.tile_cols == w->tile_cols && p.tiles_per_row == w->tiles_per_row &&
                   p.n_tiles == w->n_tiles && p.tile_size == w->tile_size),
              "dt_demo_tile_plan case %zu (%d-D, chunk %lld): got rows %lld cols %lld tile "
              "%lldx%lld per_row %lld n_tiles %lld size %lld",
              i, cases[i].ndim, (long long)cases[i].chunk, (long long)p.rows, (long long)p.cols,
              (long long)p.tile_rows, (long long)p.tile_cols, (long long)p.tiles_per_row,
              (long long)p.n_tiles, (long long)p.tile_size);
    }
    dt_tile_plan p;
    int64_t ok_shape[2] = {4, 4}, zero_shape[2] = {4, 0};
    CHECK(dt_demo_tile_plan(0, ok_shape, 64, &p) == DT_ERR_INVALID, "0-D plan accepted");
    CHECK(dt_demo_tile_plan(2, ok_shape, 0, &p) == DT_ERR_INVALID, "chunk 0 accepted");
    CHECK(dt_demo_tile_plan(2, zero_shape, 64, &p) == DT_ERR_INVALID, "empty dimension accepted");
}

static void test_tables(void) {
    float r[9];
    dt_recip_table(8, r);
    CHECK(r[0] == 0.0f, "recip[0] = %g, expected 0", (double)r[0]);
    for (int c = 1; c <= 8; c++)
        CHECK(r[c] == (float)(1.0 / c), "recip[%d] = %.9g, expected (float)(1.0/%d)", c,
              (double)r[c], c);
    float t[5 * 4 * 2];
    dt_rope_table(5, 8, 10000.0, t);
    for (int pos = 0; pos < 5; pos++)
        for (int i = 0; i < 4; i++) {
            double a = pos * pow(10000.0, -2.0 * i / 8.0);
            CHECK(fabs(t[(pos * 4 + i) * 2] - cos(a)) <= 1e-7 &&
                      fabs(t[(pos * 4 + i) * 2 + 1] - sin(a)) <= 1e-7,
                  "rope table (t=%d, i=%d) = (%g, %g), expected (%g, %g)", pos, i,
                  (double)t[(pos * 4 + i) * 2], (double)t[(pos * 4 + i) * 2 + 1], cos(a), sin(a));
        }
}

/* Upload, run, download on the cpu device; tensors are dense and owned here. */
static dt_tensor upload(dt_device *dev, dt_dtype dt, int ndim, const int64_t *shape,
                        const void *host) {
    dt_tensor t;
    if (dt_tensor_alloc(dev, dt, ndim, shape, &t) != DT_OK ||
        (host && dt_buffer_upload(t.buf, 0, host, dt_tensor_bytes(&t)) != DT_OK)) {
        printf("  FAIL: allocating or uploading on %s: %s\n", dev_spec(dev), dt_last_error());
        exit(1);
    }
    return t;
}

static int op_ok(dt_status st, const char *what) {
    if (st == DT_OK) return 1;
    printf("  FAIL %s: %s: %s\n", what, dt_status_name(st), dt_last_error());
    failures++;
    return 0;
}

static void test_encode_known(dt_device *dev) {
    /* [0, 1, ..., 7] as one 1-D segment of 8. */
    float x[8], f1[1], f2[64], coeffs[8];
    for (int i = 0; i < 8; i++) x[i] = (float)i;
    dt_tile_plan p;
    dt_demo_tile_plan(1, (int64_t[]){8}, 64, &p);
    dt_dct_basis(1, f1);
    dt_dct_basis(8, f2);
    dt_tensor tx = upload(dev, DT_F32, 1, (int64_t[]){8}, x);
    dt_tensor t1 = upload(dev, DT_F32, 2, (int64_t[]){1, 1}, f1);
    dt_tensor t2 = upload(dev, DT_F32, 2, (int64_t[]){8, 8}, f2);
    dt_tensor tc_ = upload(dev, DT_F32, 2, (int64_t[]){1, 8}, NULL);
    if (op_ok(dt_demo_encode(dev, &p, tx, t1, t2, tc_), "dt_demo_encode of 0..7") &&
        op_ok(dt_buffer_download(tc_.buf, 0, coeffs, sizeof coeffs), "download")) {
        static const float want[8] = {9.8995f, -6.4423f, 0.0f, -0.6735f,
                                      0.0f,    -0.2009f, 0.0f, -0.0507f};
        for (int i = 0; i < 8; i++)
            CHECK(fabsf(coeffs[i] - want[i]) <= 1e-4f, "encode(0..7)[%d] = %.5f, expected %.4f", i,
                  (double)coeffs[i], (double)want[i]);
    }
    dt_tensor_free(&tx);
    dt_tensor_free(&t1);
    dt_tensor_free(&t2);
    dt_tensor_free(&tc_);
}

/* encode -> top-k with k = S (every coefficient) -> decode_sub leaves D ~ 0. */
static void test_round_trip(dt_device *dev, rng *r, int ndim, const int64_t *shape, int64_t chunk) {
    dt_tile_plan p;
    if (!op_ok(dt_demo_tile_plan(ndim, shape, chunk, &p), "dt_demo_tile_plan")) return;
    int64_t n = p.rows * p.cols, nc = p.n_tiles * p.tile_size, S = p.tile_size;
    float *x = malloc(sizeof(float) * (size_t)n), *d = malloc(sizeof(float) * (size_t)n);
    float *f1 = malloc(sizeof(float) * (size_t)(p.tile_rows * p.tile_rows));
    float *f2 = malloc(sizeof(float) * (size_t)(p.tile_cols * p.tile_cols));
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)nc);
    rng_fill(r, x, (size_t)n, 1.0f);
    dt_dct_basis(p.tile_rows, f1);
    dt_dct_basis(p.tile_cols, f2);
    dt_tensor tx = upload(dev, DT_F32, ndim, shape, x);
    dt_tensor t1 = upload(dev, DT_F32, 2, (int64_t[]){p.tile_rows, p.tile_rows}, f1);
    dt_tensor t2 = upload(dev, DT_F32, 2, (int64_t[]){p.tile_cols, p.tile_cols}, f2);
    dt_tensor tco = upload(dev, DT_F32, 2, (int64_t[]){p.n_tiles, S}, NULL);
    dt_tensor ti = upload(dev, DT_I32, 2, (int64_t[]){p.n_tiles, S}, NULL);
    dt_tensor tv = upload(dev, DT_F32, 2, (int64_t[]){p.n_tiles, S}, NULL);
    char what[160];
    snprintf(what, sizeof what, "round trip %lldx%lld in %lldx%lld tiles", (long long)p.rows,
             (long long)p.cols, (long long)p.tile_rows, (long long)p.tile_cols);
    if (op_ok(dt_demo_encode(dev, &p, tx, t1, t2, tco), what) &&
        op_ok(dt_demo_topk(dev, tco, S, ti, tv), what) &&
        op_ok(dt_demo_decode_sub(dev, &p, ti, tv, t1, t2, tx), what) &&
        op_ok(dt_buffer_download(tx.buf, 0, d, sizeof(float) * (size_t)n), what) &&
        op_ok(dt_buffer_download(ti.buf, 0, idx, sizeof(int32_t) * (size_t)nc), what)) {
        double worst = 0.0, xmax = 0.0;
        for (int64_t i = 0; i < n; i++) {
            worst = fmax(worst, fabs(d[i]));
            xmax = fmax(xmax, fabs(x[i]));
        }
        CHECK(worst <= 1e-5 * xmax, "%s: |x - decode(encode(x))| up to %g (|x| up to %g)", what,
              worst, xmax);
        /* k = S keeps every index, ascending. */
        int order_ok = 1;
        for (int64_t i = 0; i < nc; i++) order_ok &= idx[i] == (int32_t)(i % S);
        CHECK(order_ok, "%s: top-k with k = S did not return 0..S-1 in order", what);
        printf("  %s: residual %.2g\n", what, worst);
    }
    dt_tensor_free(&tx);
    dt_tensor_free(&t1);
    dt_tensor_free(&t2);
    dt_tensor_free(&tco);
    dt_tensor_free(&ti);
    dt_tensor_free(&tv);
    free(x);
    free(d);
    free(f1);
    free(f2);
    free(idx);
}

int main(void) {
    printf("dct basis\n");
    test_basis();
    printf("tile plan\n");
    test_chunk();
    test_plan();
    printf("host tables\n");
    test_tables();

    dt_device *dev = NULL;
    if (dt_device_open("cpu", &dev) != DT_OK) {
        printf("FAIL: cannot open the cpu device: %s\n", dt_last_error());
        return 1;
    }
    printf("encode / decode on %s\n", dev_spec(dev));
    test_encode_known(dev);
    rng r;
    rng_seed(&r, test_seed(7));
    test_round_trip(dev, &r, 1, (int64_t[]){8}, 64);
    test_round_trip(dev, &r, 1, (int64_t[]){1000}, 64);
    test_round_trip(dev, &r, 2, (int64_t[]){128, 192}, 64);
    test_round_trip(dev, &r, 2, (int64_t[]){21, 65}, 64);
    test_round_trip(dev, &r, 2, (int64_t[]){67, 5}, 64);
    test_round_trip(dev, &r, 3, (int64_t[]){2, 48, 40}, 64);
    dt_device_close(dev);
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
