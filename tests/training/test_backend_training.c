/* Training on every non-CPU device against the CPU backend (issues 4, 5):
 * - the `tiny` preset follows the CPU loss curve for 20 steps, with AdamW
 *   and with DeMo (each replica compressing its own momentum);
 * - when both replicas apply the same payloads (the CPU's), their parameter
 *   hashes are equal after every DeMo step: the canonical update is bit-exact
 *   across backends even though forward and backward differ in rounding.
 * DISTRO_TEST_DEVICES (comma list of specs) restricts the devices; specs given
 * as arguments (with any options, e.g. vulkan:0:validation=on) name them. */
#include <math.h>
#include <string.h>

#include "model/trainer.h"
#include "tests/test_util.h"
#include "tests/training/train_util.h"

#define STEPS     20
#define LOSS_RTOL 2e-2 /* relative; the curves agree far better, see the printout */

static int failures;

/* Sequences per step: the tiny preset's seq_len sets the rest. */
#define BATCH 4

typedef struct replica {
    dt_device *dev;
    model *m;
    model_adamw *adamw;
    model_demo *demo;
    uint8_t *payload;
} replica;

static void replica_open(replica *r, dt_device *dev, model_optimizer opt) {
    memset(r, 0, sizeof *r);
    r->dev = dev;
    model_config c;
    MUST(model_config_preset("tiny", &c));
    MUST(model_create(dev, &c, BATCH, &r->m));
    MUST(model_init_weights(r->m));
    if (opt == MODEL_OPT_ADAMW) {
        model_adamw_config ac;
        model_adamw_config_default(&ac);
        MUST(model_adamw_create(r->m, &ac, &r->adamw));
    } else {
        model_demo_config dc;
        model_demo_config_default(&dc);
        dc.weight_decay = 0.1f;
        MUST(model_demo_create(r->m, &dc, &r->demo));
        r->payload = malloc(model_demo_payload_bytes(r->demo));
    }
}

static void replica_close(replica *r) {
    model_adamw_destroy(r->adamw);
    model_demo_destroy(r->demo);
    free(r->payload);
    model_destroy(r->m);
}

static float grads(replica *r, const int32_t *tok, const int32_t *tgt) {
    float loss = 0.0f;
    const int64_t n = BATCH * model_get_config(r->m)->seq_len;
    MUST(model_forward_backward(r->m, tok, tgt, (float)(1.0 / (double)n), MODEL_GRAD_OVERWRITE,
                                &loss));
    return loss;
}

static uint64_t hash_of(replica *r) {
    uint64_t h = 0;
    MUST(model_param_hash(r->m, &h));
    return h;
}

/* mode 0: AdamW; 1: DeMo, own payloads; 2: DeMo, both apply the CPU's. */
static void compare(dt_device *cpu, dt_device *dev, const model_dataset *ds, int mode) {
    static const char *names[] = {"adamw", "demo (own payloads)", "demo (shared payloads)"};
    model_optimizer opt = mode == 0 ? MODEL_OPT_ADAMW : MODEL_OPT_DEMO;
    replica a, b;
    replica_open(&a, cpu, opt);
    replica_open(&b, dev, opt);
    CHECK(hash_of(&a) == hash_of(&b), "%s: initial weights differ", names[mode]);
    const int64_t seq = model_get_config(a.m)->seq_len;
    int32_t *tok = malloc((size_t)(BATCH * seq) * 4), *tgt = malloc((size_t)(BATCH * seq) * 4);
    double worst = 0.0;
    int hash_equal = 0;
    for (int s = 0; s < STEPS; s++) {
        MUST(model_dataset_train_batch(ds, 3, s, 0, 0, BATCH, seq, tok, tgt));
        float la = grads(&a, tok, tgt), lb = grads(&b, tok, tgt);
        double rel = fabs((double)la - lb) / fabs((double)la);
        worst = fmax(worst, rel);
        CHECK(rel <= LOSS_RTOL, "%s on %s, step %d: loss %.6f vs cpu %.6f", names[mode],
              dt_device_get_info(dev)->spec, s, (double)lb, (double)la);
        float lr = 2e-3f;
        if (mode == 0) {
            MUST(model_adamw_step(a.adamw, lr, s + 1, NULL));
            MUST(model_adamw_step(b.adamw, lr, s + 1, NULL));
            continue;
        }
        float decay = model_demo_decay(lr, 0.1f);
        size_t len = model_demo_payload_bytes(a.demo);
        MUST(model_demo_compress(a.demo, 9, s, lr, a.payload, NULL));
        MUST(model_demo_compress(b.demo, 9, s, lr, b.payload, NULL));
        const uint8_t *pa[1] = {a.payload}, *pb[1] = {mode == 2 ? a.payload : b.payload};
        MUST(model_demo_apply(a.demo, 9, s, pa, &len, 1, lr, decay));
        MUST(model_demo_apply(b.demo, 9, s, pb, &len, 1, lr, decay));
        MUST(model_demo_confirm(a.demo));
        if (mode == 2)
            model_demo_discard(b.demo); /* its own payload was not applied */
        else
            MUST(model_demo_confirm(b.demo));
        if (mode == 2) {
            uint64_t ha = hash_of(&a), hb = hash_of(&b);
            hash_equal += ha == hb;
            CHECK(ha == hb, "shared payloads on %s, step %d: hash %016llx vs cpu %016llx",
                  dt_device_get_info(dev)->spec, s, (unsigned long long)hb, (unsigned long long)ha);
        }
    }
    printf("%-10s %-24s largest relative loss difference over %d steps: %.2e",
           dt_device_get_info(dev)->spec, names[mode], STEPS, worst);
    if (mode == 2) printf("; hashes equal after %d of %d steps", hash_equal, STEPS);
    printf("\n");
    free(tok);
    free(tgt);
    replica_close(&a);
    replica_close(&b);
}

int main(int argc, char **argv) {
    dt_device *cpu = NULL;
    MUST(dt_device_open("cpu", &cpu));
    model_dataset *ds = NULL;
    MUST(model_dataset_open("builtin:tinyshakespeare", 256, &ds));
    /* The shared device list (tests/test_util.h): a device that
     * DISTRO_TEST_DEVICES names but this machine lacks fails the test. */
    test_dev devs[16];
    int n = argc > 1 ? test_devices_named(argc - 1, argv + 1, devs, 16) : test_devices(0, devs, 16);
    int tested = 0;
    for (int i = 0; i < n; i++) {
        dt_device *dev = NULL;
        MUST(dt_device_open(devs[i].spec, &dev));
        for (int mode = 0; mode < 3; mode++) compare(cpu, dev, ds, mode);
        dt_device_close(dev);
        tested++;
    }
    model_dataset_close(ds);
    dt_device_close(cpu);
    if (n < 0) failures++;
    if (!tested && n == 0) {
        printf("SKIP: no device besides the CPU backend in this build or machine\n");
        return 77;
    }
    return failures ? 1 : 0;
}
