/* model_worker's round under local steps (model/worker.h):
 * - the local half leaves the global weights as they were;
 * - a dropped round (discard) keeps the whole error-feedback buffer;
 * - a confirmed round subtracts exactly the decode of the own selection:
 *   the DCT is orthonormal, so the buffer's energy falls by the sum of the
 *   squared selected coefficients (the payload's fp32 values);
 * - a partial last round takes only its inner steps (bias correction count). */
#include <math.h>
#include <string.h>

#include "model/worker.h"
#include "tests/training/train_util.h"

static int failures;

static double *download_error(model_worker *w, size_t *n) {
    model_worker_state g[3];
    CHECK(model_worker_state_groups(w, g) == 3, "local steps keep three state groups");
    size_t bytes = dt_buffer_size(g[0].buf);
    float *f = malloc(bytes);
    double *d = malloc(bytes / 4 * sizeof *d);
    MUST(dt_buffer_download(g[0].buf, 0, f, bytes));
    for (size_t i = 0; i < bytes / 4; i++) d[i] = f[i];
    free(f);
    *n = bytes / 4;
    return d;
}

static double energy(const double *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}

int main(void) {
    dt_device *dev = test_open_device();
    model_config c;
    MUST(model_config_preset("tiny", &c));
    model *m = NULL;
    model_dataset *ds = NULL;
    MUST(model_create(dev, &c, 2, &m));
    MUST(model_init_weights(m));
    MUST(model_dataset_open("builtin:tinyshakespeare", c.vocab_size, &ds));
    model_sync_config sc;
    model_sync_config_local_default(&sc);
    sc.inner_steps = 3;
    sc.demo.topk = 8;
    sc.demo.chunk = 32;
    sc.schedule = (model_schedule){2e-3f, 1, 8, 0.1f}; /* rounds of 3, 3, 2 */
    model_worker *w = NULL;
    MUST(model_worker_create(m, &sc, &w));
    size_t pb = model_worker_payload_bytes(w);
    uint8_t *payload = malloc(pb);
    const demo_geometry *geo = model_worker_geometry(w);
    int32_t *idx = malloc((size_t)geo->total_entries * 4);
    float *vals = malloc((size_t)geo->total_entries * 4);
    model_round r = {.run_id = 7, .round = 0, .peer = 1, .n_micro = 2, .data_seed = 1};
    model_round_report rep;
    bool stopped = false;

    uint64_t before = 0, after = 0;
    MUST(model_param_hash(m, &before));
    MUST(model_worker_round(w, ds, &r, payload, &rep, &stopped));
    MUST(model_param_hash(m, &after));
    CHECK(before == after, "the local half changed the global weights");
    CHECK(model_worker_inner_count(w) == 3, "3 inner steps counted, not %lld",
          (long long)model_worker_inner_count(w));
    size_t n;
    double *e0 = download_error(w, &n);
    CHECK(energy(e0, n) > 0, "the error feedback is empty after a round");

    /* Dropped: everything stays. */
    model_worker_discard(w);
    double *e1 = download_error(w, &n);
    CHECK(memcmp(e0, e1, n * sizeof *e0) == 0, "a dropped round changed the error feedback");
    CHECK(model_worker_confirm(w) != DT_OK, "confirm without a pending round must fail");
    dt_error_clear();

    /* Confirmed: the selected coefficients leave the buffer. */
    r.round = 1;
    MUST(model_worker_round(w, ds, &r, payload, &rep, &stopped));
    double *e2 = download_error(w, &n);
    MUST(demo_payload_decode(geo, payload, pb, 7, 1, idx, vals));
    double sent = 0.0;
    for (int64_t i = 0; i < geo->total_entries; i++) sent += (double)vals[i] * vals[i];
    const uint8_t *ptrs[1] = {payload};
    MUST(model_worker_apply(w, 7, 1, ptrs, &pb, 1, 1.0f, 1.0f));
    MUST(model_worker_confirm(w));
    double *e3 = download_error(w, &n);
    double drop = energy(e2, n) - energy(e3, n);
    printf("error feedback energy %.6e -> %.6e; selected coefficients %.6e\n", energy(e2, n),
           energy(e3, n), sent);
    CHECK(sent > 0 && fabs(drop - sent) <= 1e-3 * sent,
          "confirm removed energy %.6e, the selection holds %.6e", drop, sent);
    MUST(model_param_hash(m, &after));
    CHECK(before != after, "the outer step did not move the weights");

    /* The last round of an 8-step schedule holds 2 inner steps. */
    r.round = 2;
    r.steps = 2;
    MUST(model_worker_round(w, ds, &r, payload, &rep, &stopped));
    CHECK(model_worker_inner_count(w) == 8, "8 inner steps counted, not %lld",
          (long long)model_worker_inner_count(w));

    free(e0), free(e1), free(e2), free(e3), free(idx), free(vals), free(payload);
    model_worker_destroy(w);
    model_dataset_close(ds);
    model_destroy(m);
    dt_device_close(dev);
    if (!failures) printf("worker: all checks passed\n");
    return failures ? 1 : 0;
}
