/* A step's first micro-batch overwrites the gradients (MODEL_GRAD_OVERWRITE:
 * the weight GEMMs run with beta = 0 and nothing zeroes them first); the
 * rest add to them. On every device (the cpu first), with the embedding
 * tied to the head and untied:
 * - overwriting gradients that hold NaN gives what zeroing them and then
 *   accumulating gives, value for value on the cpu backend (only the sign of
 *   a zero may differ, and == ignores it), within 1e-6 of the largest
 *   gradient elsewhere: no gradient keeps anything of before;
 * - a second micro-batch accumulated on top gives the same sum both ways,
 *   and that sum is the two micro-batches' gradients, each taken alone,
 *   added up.
 * DISTRO_TEST_DEVICES (comma list of specs) restricts the devices. */
#include <math.h>
#include <string.h>

#include "model/model.h"
#include "tests/test_util.h"
#include "tests/training/train_util.h"

#define BATCH 2

static int failures;

typedef struct run {
    model *m;
    int32_t *tok[2], *tgt[2];
    float scale;
    size_t floats; /* the gradient buffer */
} run;

static void backward(run *r, int batch, model_grad_mode mode) {
    float loss = 0.0f;
    MUST(model_forward_backward(r->m, r->tok[batch], r->tgt[batch], r->scale, mode, &loss));
}

static void download(run *r, float *out) {
    MUST(dt_buffer_download(model_grads_buffer(r->m), 0, out, r->floats * 4));
}

/* The first index where a and b differ by more than tol (NaN differs from
 * everything), or -1. */
static int64_t first_difference(const float *a, const float *b, size_t n, double tol) {
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)a[i] - b[i]) <= tol)) return (int64_t)i;
    return -1;
}

/* The cpu backend's GEMM paths run the same kernel whatever beta is, so
 * there the values must be equal. A GPU library may pick another algorithm
 * for beta = 0 than for beta = 1 (cuBLAS promises nothing else), so
 * elsewhere they must agree within 1e-6 of the largest gradient: any NaN
 * kept from before, or a gradient left unzeroed, still fails. */
static void check_same(const char *what, const dt_device_info *info, const float *got,
                       const float *want, size_t n) {
    double gmax = 0.0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs((double)want[i]));
    const double tol = strcmp(info->backend, "cpu") == 0 ? 0.0 : 1e-6 * gmax;
    int64_t at = first_difference(got, want, n, tol);
    CHECK(at < 0, "%s on %s: gradient %lld is %.9g, zeroing then accumulating gives %.9g", what,
          info->spec, (long long)at, at < 0 ? 0.0 : (double)got[at],
          at < 0 ? 0.0 : (double)want[at]);
}

static void check_device(dt_device *dev, int tie) {
    const int failures_before = failures;
    const char *spec = dt_device_get_info(dev)->spec;
    model_config c;
    MUST(model_config_preset("tiny", &c));
    c.tie_embeddings = tie;
    run r;
    memset(&r, 0, sizeof r);
    MUST(model_create(dev, &c, BATCH, &r.m));
    MUST(model_init_weights(r.m));
    const int64_t n = BATCH * c.seq_len;
    r.scale = (float)(1.0 / (double)(2 * n));
    r.floats = dt_buffer_size(model_grads_buffer(r.m)) / 4;
    uint64_t s = 77 + (uint64_t)tie;
    for (int b = 0; b < 2; b++) {
        r.tok[b] = malloc((size_t)n * 4), r.tgt[b] = malloc((size_t)n * 4);
        for (int64_t i = 0; i < n; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            r.tok[b][i] = (int32_t)((s >> 33) % (uint64_t)c.vocab_size);
            r.tgt[b][i] = (int32_t)((s >> 17) % (uint64_t)c.vocab_size);
        }
    }
    float *nan = malloc(r.floats * 4), *want = malloc(r.floats * 4), *got = malloc(r.floats * 4);
    for (size_t i = 0; i < r.floats; i++) nan[i] = NAN;

    MUST(model_zero_grads(r.m));
    backward(&r, 0, MODEL_GRAD_ACCUMULATE);
    download(&r, want);
    MUST(dt_buffer_upload(model_grads_buffer(r.m), 0, nan, r.floats * 4));
    backward(&r, 0, MODEL_GRAD_OVERWRITE);
    download(&r, got);
    const char *what = tie ? "overwrite (tied)" : "overwrite (untied)";
    check_same(what, dt_device_get_info(dev), got, want, r.floats);

    MUST(model_zero_grads(r.m));
    backward(&r, 0, MODEL_GRAD_ACCUMULATE);
    backward(&r, 1, MODEL_GRAD_ACCUMULATE);
    download(&r, want);
    MUST(dt_buffer_upload(model_grads_buffer(r.m), 0, nan, r.floats * 4));
    backward(&r, 0, MODEL_GRAD_OVERWRITE);
    backward(&r, 1, MODEL_GRAD_ACCUMULATE);
    download(&r, got);
    what = tie ? "overwrite + accumulate (tied)" : "overwrite + accumulate (untied)";
    check_same(what, dt_device_get_info(dev), got, want, r.floats);

    /* Accumulating really adds: the two micro-batches' gradients, each
     * taken alone, summed here. Only the order of additions inside an op
     * may differ (RMSNorm's dw adds row by row), so within 1e-5 of the
     * largest gradient. */
    float *alone = malloc(r.floats * 4);
    backward(&r, 0, MODEL_GRAD_OVERWRITE);
    download(&r, want);
    backward(&r, 1, MODEL_GRAD_OVERWRITE);
    download(&r, alone);
    double gmax = 0.0, worst = 0.0;
    for (size_t i = 0; i < r.floats; i++) gmax = fmax(gmax, fabs((double)want[i] + alone[i]));
    int64_t worst_at = 0;
    for (size_t i = 0; i < r.floats; i++) {
        double err = fabs((double)got[i] - ((double)want[i] + alone[i]));
        if (!(err <= worst)) worst = err, worst_at = (int64_t)i;
    }
    CHECK(worst <= 1e-5 * gmax,
          "two micro-batches on %s (%s): gradient %lld is %.9g, the sum of "
          "each alone %.9g",
          spec, tie ? "tied" : "untied", (long long)worst_at, (double)got[worst_at],
          (double)want[worst_at] + alone[worst_at]);
    free(alone);
    printf("%-12s %-6s %zu gradients, one and two micro-batches: overwriting NaN %s zeroing "
           "and accumulating\n",
           spec, tie ? "tied" : "untied", r.floats,
           failures == failures_before ? "gives the values of" : "DIFFERS from");

    free(nan);
    free(want);
    free(got);
    for (int b = 0; b < 2; b++) free(r.tok[b]), free(r.tgt[b]);
    model_destroy(r.m);
}

int main(void) {
    test_dev devs[16];
    int n = test_devices(1, devs, 16);
    for (int i = 0; i < n; i++) {
        dt_device *dev = NULL;
        MUST(dt_device_open(devs[i].spec, &dev));
        for (int tie = 1; tie >= 0; tie--) check_device(dev, tie);
        dt_device_close(dev);
    }
    if (n < 0) failures++;
    return failures ? 1 : 0;
}
