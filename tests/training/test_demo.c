/* DeMo optimizer facts (issue 3): aggregation is the mean over the
 * contributors that chose a slot, error feedback happens only on confirm,
 * every payload encoding round-trips, 1-bit k=4 on 64x64 tiles costs 8.5
 * bytes per 4096 parameters, malformed payloads are refused with a reason,
 * and tensors with prime or sub-64 dimensions train. */
#include <math.h>
#include <string.h>

#include "model/demo.h"
#include "model/trainer.h"
#include "tests/training/train_util.h"

static int failures;

static uint64_t rng = 0x1234567;
static uint32_t next_u32(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 32);
}

/* ---- aggregation: mean over the contributors that chose a slot ------------ */

/* One 1-D tile of 4 slots, two contributors with k = 2. W starts at 0 with
 * lr 1 and decay 1, so W afterwards is -sign(IDCT(A)). The expected A uses
 * the mean over choosers; the test also confirms that "sum / n_contrib"
 * would give a different sign pattern, so it really tells the two apart. */
static void test_aggregation(dt_device *dev) {
    const int64_t S = 4, k = 2;
    int64_t shape[1] = {S};
    dt_tile_plan plan;
    MUST(dt_demo_tile_plan(1, shape, 64, &plan));
    int32_t idx[2][2] = {{0, 1}, {0, 2}};
    float vals[2][2] = {{3.0f, -2.0f}, {-1.0f, 0.5f}};
    /* slot 0: both chose it -> (3 + -1) / 2 = 1; slot 1: only c0 -> -2;
     * slot 2: only c1 -> 0.5; slot 3: nobody -> 0. */
    double a_mean[4] = {1.0, -2.0, 0.5, 0.0}, a_sum[4] = {1.0, -1.0, 0.25, 0.0};
    float f1[1] = {1.0f}, f2[16], recip[3];
    dt_dct_basis(S, f2);
    dt_recip_table(2, recip);
    int sign_mean[4], sign_sum[4], differ = 0;
    for (int w = 0; w < 4; w++) {
        double xm = 0.0, xs = 0.0;
        for (int b = 0; b < 4; b++) {
            xm += a_mean[b] * f2[w * 4 + b];
            xs += a_sum[b] * f2[w * 4 + b];
        }
        sign_mean[w] = (xm > 0) - (xm < 0);
        sign_sum[w] = (xs > 0) - (xs < 0);
        differ |= sign_mean[w] != sign_sum[w];
    }
    CHECK(differ, "test construction: mean and sum/n give the same signs");

    dt_tensor t_idx, t_vals, t_recip, t_f1, t_f2, t_w;
    MUST(dt_tensor_alloc(dev, DT_I32, 3, (int64_t[]){2, 1, k}, &t_idx));
    MUST(dt_tensor_alloc(dev, DT_F32, 3, (int64_t[]){2, 1, k}, &t_vals));
    MUST(dt_tensor_alloc(dev, DT_F32, 1, (int64_t[]){3}, &t_recip));
    MUST(dt_tensor_alloc(dev, DT_F32, 2, (int64_t[]){1, 1}, &t_f1));
    MUST(dt_tensor_alloc(dev, DT_F32, 2, (int64_t[]){S, S}, &t_f2));
    MUST(dt_tensor_alloc(dev, DT_F32, 1, shape, &t_w));
    MUST(dt_buffer_upload(t_idx.buf, 0, idx, sizeof idx));
    MUST(dt_buffer_upload(t_vals.buf, 0, vals, sizeof vals));
    MUST(dt_buffer_upload(t_recip.buf, 0, recip, sizeof recip));
    MUST(dt_buffer_upload(t_f1.buf, 0, f1, sizeof f1));
    MUST(dt_buffer_upload(t_f2.buf, 0, f2, sizeof f2));
    MUST(dt_fill(dev, t_w, 0.0f));
    MUST(dt_demo_apply(dev, &plan, t_idx, t_vals, 2, t_recip, t_f1, t_f2, t_w, 1.0f, 1.0f,
                       DT_DEMO_UPDATE_SIGN));
    float w[4];
    MUST(dt_buffer_download(t_w.buf, 0, w, sizeof w));
    for (int i = 0; i < 4; i++)
        CHECK(w[i] == (float)-sign_mean[i], "slot %d: W = %g, expected %d (mean over choosers)", i,
              (double)w[i], -sign_mean[i]);
    dt_tensor *all[] = {&t_idx, &t_vals, &t_recip, &t_f1, &t_f2, &t_w};
    for (int i = 0; i < 6; i++) dt_tensor_free(all[i]);
}

/* ---- payload encodings ------------------------------------------------------ */

static model_layout fake_layout(model_param *p, int n, const int64_t (*shapes)[2]) {
    model_layout l = {p, n, 0};
    for (int i = 0; i < n; i++) {
        memset(&p[i], 0, sizeof p[i]);
        snprintf(p[i].name, sizeof p[i].name, "t%d", i);
        p[i].ndim = shapes[i][1] ? 2 : 1;
        p[i].shape[0] = shapes[i][0];
        p[i].shape[1] = shapes[i][1] ? shapes[i][1] : 1;
        p[i].numel = p[i].shape[0] * p[i].shape[1];
        l.total += p[i].numel;
    }
    return l;
}

/* Strictly ascending random indices per tile, random values. */
static void random_entries(const demo_geometry *g, int32_t *idx, float *vals) {
    for (int t = 0; t < g->n; t++) {
        const demo_tensor_geometry *tg = &g->t[t];
        for (int64_t tile = 0; tile < tg->plan.n_tiles; tile++) {
            int32_t *ti = idx + tg->entry_at + tile * tg->k;
            int64_t chosen = 0;
            for (int64_t s = 0; s < tg->plan.tile_size && chosen < tg->k; s++) {
                int64_t left = tg->plan.tile_size - s, need = tg->k - chosen;
                if ((int64_t)(next_u32() % (uint32_t)left) < need) ti[chosen++] = (int32_t)s;
            }
        }
    }
    for (int64_t i = 0; i < g->total_entries; i++)
        vals[i] = ((float)(next_u32() % 20001) - 10000.0f) * 1.37e-3f;
}

static void test_round_trip(void) {
    /* 64x64 tiles: 16-bit indices; 64x44: 2816-slot tiles, 12-bit; 16x16 and
     * 1-D 100 -> 25-slot tiles: 8-bit; odd k exercises the 12-bit padding. */
    const int64_t shapes[][2] = {{128, 128}, {64, 88}, {16, 16}, {100, 0}, {97, 64}};
    model_param p[5];
    model_layout l = fake_layout(p, 5, shapes);
    const int64_t ks[] = {1, 3, 4, 32};
    for (int v = 0; v <= DEMO_VALUES_FP32; v++) {
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
            demo_geometry g;
            MUST(demo_geometry_build(&l, 64, ks[ki], (demo_values)v, &g));
            CHECK(g.t[0].index_bits == 16 && g.t[1].index_bits == 12 && g.t[2].index_bits == 8,
                  "index widths %d %d %d", g.t[0].index_bits, g.t[1].index_bits, g.t[2].index_bits);
            int32_t *idx = malloc((size_t)g.total_entries * 4),
                    *idx2 = malloc((size_t)g.total_entries * 4);
            float *vals = malloc((size_t)g.total_entries * 4),
                  *vals2 = malloc((size_t)g.total_entries * 4);
            uint8_t *bytes = malloc(g.payload_bytes);
            random_entries(&g, idx, vals);
            demo_payload_encode(&g, 99, 5, idx, vals, bytes);
            MUST(demo_payload_decode(&g, bytes, g.payload_bytes, 99, 5, idx2, vals2));
            int bad = 0;
            for (int64_t i = 0; i < g.total_entries; i++) {
                float want = v == DEMO_VALUES_FP32   ? vals[i]
                             : v == DEMO_VALUES_BF16 ? demo_bf16_to_f32(demo_f32_to_bf16(vals[i]))
                                                     : (signbit(vals[i]) ? -1.0f : 1.0f);
                bad += idx[i] != idx2[i] || vals2[i] != want;
                if (v == DEMO_VALUES_BF16)
                    bad += fabsf(vals2[i] - vals[i]) > fabsf(vals[i]) * (1.0f / 256.0f);
            }
            CHECK(bad == 0, "%s, k=%lld: %d entries did not round-trip",
                  demo_values_name((demo_values)v), (long long)ks[ki], bad);
            free(idx), free(idx2), free(vals), free(vals2), free(bytes);
            demo_geometry_free(&g);
        }
    }
}

static void test_one_bit_cost(void) {
    const int64_t shapes[][2] = {{128, 128}}; /* 4 tiles of 64 x 64 */
    model_param p[1];
    model_layout l = fake_layout(p, 1, shapes);
    demo_geometry g;
    MUST(demo_geometry_build(&l, 64, 4, DEMO_VALUES_1BIT, &g));
    double per_4096 = (double)(g.payload_bytes - DEMO_PAYLOAD_HEADER_BYTES) / 4.0;
    printf("1-bit, k=4, 64x64 tiles: %.2f bytes per 4096 parameters (+%d header bytes)\n", per_4096,
           DEMO_PAYLOAD_HEADER_BYTES);
    CHECK(per_4096 == 8.5, "1-bit k=4 costs %.3f bytes per 64x64 tile, expected 8.5", per_4096);
    demo_geometry_free(&g);
}

/* Each malformed payload is refused with a reason naming the problem. */
static void test_refusals(void) {
    const int64_t shapes[][2] = {{128, 128}, {100, 0}};
    model_param p[2];
    model_layout l = fake_layout(p, 2, shapes);
    demo_geometry g;
    MUST(demo_geometry_build(&l, 64, 4, DEMO_VALUES_FP32, &g));
    int32_t *idx = malloc((size_t)g.total_entries * 4);
    float *vals = malloc((size_t)g.total_entries * 4);
    uint8_t *good = malloc(g.payload_bytes), *bad = malloc(g.payload_bytes + 8);
    random_entries(&g, idx, vals);
    demo_payload_encode(&g, 7, 3, idx, vals, good);
    MUST(demo_payload_decode(&g, good, g.payload_bytes, 7, 3, NULL, NULL));
    const size_t v0 = g.t[0].payload_at + g.t[0].index_bytes; /* first value */
    struct {
        const char *what, *reason;
        size_t len;
        uint64_t run;
        int64_t step;
        void (*mutate)(uint8_t *b, size_t v0);
    } cases[] = {
        {"truncated", "length", 0, 7, 3, NULL},
        {"wrong run id", "run id", 1, 8, 3, NULL},
        {"wrong step", "step", 1, 7, 4, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len ? g.payload_bytes : g.payload_bytes - 1;
        dt_status st = demo_payload_decode(&g, good, len, cases[i].run, cases[i].step, NULL, NULL);
        CHECK(st == DT_ERR_FORMAT && strstr(dt_last_error(), cases[i].reason),
              "%s: status %s, message '%s'", cases[i].what, dt_status_name(st), dt_last_error());
    }
    /* index out of range: tile 0's first index (u16) set to 4096 */
    memcpy(bad, good, g.payload_bytes);
    bad[g.t[0].payload_at] = 0x00, bad[g.t[0].payload_at + 1] = 0x10;
    dt_status st = demo_payload_decode(&g, bad, g.payload_bytes, 7, 3, NULL, NULL);
    CHECK(st == DT_ERR_FORMAT && strstr(dt_last_error(), "outside"), "range: %s", dt_last_error());
    /* repeated index: the second index equal to the first */
    memcpy(bad, good, g.payload_bytes);
    memcpy(bad + g.t[0].payload_at + 2, bad + g.t[0].payload_at, 2);
    st = demo_payload_decode(&g, bad, g.payload_bytes, 7, 3, NULL, NULL);
    CHECK(st == DT_ERR_FORMAT && strstr(dt_last_error(), "repeated"), "repeat: %s",
          dt_last_error());
    /* NaN value */
    memcpy(bad, good, g.payload_bytes);
    uint32_t nan_bits = 0x7FC00000u;
    memcpy(bad + v0, &nan_bits, 4);
    st = demo_payload_decode(&g, bad, g.payload_bytes, 7, 3, NULL, NULL);
    CHECK(st == DT_ERR_FORMAT && strstr(dt_last_error(), "finite"), "NaN: %s", dt_last_error());
    /* subnormal values decode to zero of the same sign */
    float *dv = malloc((size_t)g.total_entries * 4);
    for (int sign = 0; sign < 2; sign++) {
        memcpy(bad, good, g.payload_bytes);
        uint32_t sub = sign ? 0x80000001u : 0x00000001u;
        memcpy(bad + v0, &sub, 4);
        MUST(demo_payload_decode(&g, bad, g.payload_bytes, 7, 3, NULL, dv));
        CHECK(dv[0] == 0.0f && (signbit(dv[0]) != 0) == sign, "subnormal decoded to %g",
              (double)dv[0]);
    }
    free(dv);
    /* oversized */
    memcpy(bad, good, g.payload_bytes);
    st = demo_payload_decode(&g, bad, g.payload_bytes + 8, 7, 3, NULL, NULL);
    CHECK(st == DT_ERR_FORMAT && strstr(dt_last_error(), "length"), "oversized: %s",
          dt_last_error());
    free(idx), free(vals), free(good), free(bad);
    demo_geometry_free(&g);
}

/* ---- error feedback only on confirm ---------------------------------------- */

static void test_error_feedback(dt_device *dev) {
    model_config c;
    MUST(model_config_preset("tiny", &c));
    model *m = NULL;
    MUST(model_create(dev, &c, 2, &m));
    MUST(model_init_weights(m));
    const model_layout *l = model_get_layout(m);
    model_dataset *ds = NULL;
    MUST(model_dataset_open("builtin:tinyshakespeare", c.vocab_size, &ds));
    const int64_t n_tok = 2 * c.seq_len;
    int32_t *tokens = malloc((size_t)n_tok * 4), *targets = malloc((size_t)n_tok * 4);
    MUST(model_dataset_train_batch(ds, 1, 0, 0, 0, 2, c.seq_len, tokens, targets));
    float loss;
    MUST(model_zero_grads(m));
    MUST(model_forward_backward(m, tokens, targets, (float)(1.0 / (double)n_tok),
                                MODEL_GRAD_ACCUMULATE, &loss));
    free(tokens);
    free(targets);

    model_demo_config dc;
    model_demo_config_default(&dc);
    model_demo *o = NULL;
    MUST(model_demo_create(m, &dc, &o));
    uint8_t *payload = malloc(model_demo_payload_bytes(o));
    const float lr = 1e-3f;
    size_t wbytes = (size_t)l->total * 4 + 4096;
    float *grad = malloc(wbytes), *mom = malloc(wbytes), *mom2 = malloc(wbytes);
    int t_emb = 0; /* tok_emb: [256, 64] -> 4 tiles of 64 x 64 */
    int64_t n = l->params[t_emb].numel;
    MUST(dt_buffer_download(model_grads_buffer(m), l->params[t_emb].offset, grad, (size_t)n * 4));

    MUST(model_demo_compress(o, 1, 0, lr, payload, NULL));
    dt_tensor d = model_demo_momentum(o, t_emb);
    MUST(dt_buffer_download(d.buf, d.offset, mom, (size_t)n * 4));
    int exact = 1;
    for (int64_t i = 0; i < n; i++) exact &= mom[i] == lr * grad[i];
    CHECK(exact, "after compress, D != lr * g exactly (first step from zero momentum)");

    model_demo_discard(o);
    MUST(dt_buffer_download(d.buf, d.offset, mom2, (size_t)n * 4));
    CHECK(memcmp(mom, mom2, (size_t)n * 4) == 0, "discard changed the momentum");
    CHECK(model_demo_confirm(o) == DT_ERR_INVALID, "confirm after discard was accepted");

    /* Compress again from the same state, then confirm: the selected
     * coefficients must be gone from D (re-encoding gives ~0 there). */
    MUST(model_zero_grads(m));
    MUST(model_demo_compress(o, 1, 1, lr, payload, NULL)); /* g = 0: D = beta * D */
    MUST(dt_buffer_download(d.buf, d.offset, mom, (size_t)n * 4));
    MUST(model_demo_confirm(o));
    MUST(dt_buffer_download(d.buf, d.offset, mom2, (size_t)n * 4));
    const demo_geometry *g = model_demo_geometry(o);
    int32_t *idx = malloc((size_t)g->total_entries * 4);
    float *vals = malloc((size_t)g->total_entries * 4);
    MUST(demo_payload_decode(g, payload, model_demo_payload_bytes(o), 1, 1, idx, vals));
    const demo_tensor_geometry *tg = &g->t[t_emb];
    float f[64 * 64];
    dt_dct_basis(64, f);
    double worst = 0.0, scale = 0.0;
    for (int64_t tile = 0; tile < tg->plan.n_tiles; tile++) {
        int64_t r0 = (tile / tg->plan.tiles_per_row) * 64,
                c0 = (tile % tg->plan.tiles_per_row) * 64;
        for (int64_t e = 0; e < tg->k; e++) {
            int32_t s = idx[tg->entry_at + tile * tg->k + e];
            int64_t a = s / 64, b = s % 64;
            double before = 0.0, after = 0.0;
            for (int64_t i = 0; i < 64; i++)
                for (int64_t j = 0; j < 64; j++) {
                    double basis = (double)f[i * 64 + a] * f[j * 64 + b];
                    before += basis * mom[(r0 + i) * 64 + c0 + j];
                    after += basis * mom2[(r0 + i) * 64 + c0 + j];
                }
            scale = fmax(scale, fabs(before));
            worst = fmax(worst, fabs(after));
        }
    }
    printf("error feedback: largest selected coefficient %.3e before confirm, %.3e after\n", scale,
           worst);
    CHECK(scale > 0 && worst < 1e-4 * scale, "confirm left %.3e of coefficients up to %.3e", worst,
          scale);
    free(idx), free(vals), free(payload), free(grad), free(mom), free(mom2);
    model_demo_destroy(o);
    model_dataset_close(ds);
    model_destroy(m);
}

/* ---- prime and sub-64 dimensions train -------------------------------------- */

static void test_odd_shapes_train(dt_device *dev) {
    /* dim 48 (< 64), ffn 97 (prime: its tiles are 1 wide), head dim 12. */
    model_config c = {256, 48, 2, 4, 97, 32, 10000.0, true, 0.02, 5};
    model *m = NULL;
    MUST(model_create(dev, &c, 4, &m));
    MUST(model_init_weights(m));
    model_dataset *ds = NULL;
    MUST(model_dataset_open("builtin:tinyshakespeare", 256, &ds));
    model_train_options o;
    model_train_options_default(&o, MODEL_OPT_DEMO);
    o.schedule = (model_schedule){2e-3f, 5, 150, 0.1f};
    model_trainer *t = NULL;
    MUST(model_trainer_create(m, ds, &o, &t));
    float first = 0.0f, last = 0.0f;
    model_step_report r;
    double tail = 0.0;
    for (int s = 0; s < 150; s++) {
        MUST(model_trainer_step(t, &r));
        if (s == 0) first = r.loss;
        if (s >= 140) tail += r.loss / 10.0;
    }
    last = (float)tail;
    printf("prime/sub-64 dims: loss %.3f -> %.3f over 150 DeMo steps\n", (double)first,
           (double)last);
    CHECK(last < first - 1.5f, "loss fell only from %.3f to %.3f", (double)first, (double)last);
    model_trainer_destroy(t);
    model_dataset_close(ds);
    model_destroy(m);
}

int main(void) {
    dt_device *dev = test_open_device();
    test_aggregation(dev);
    test_round_trip();
    test_one_bit_cost();
    test_refusals();
    test_error_feedback(dev);
    test_odd_shapes_train(dev);
    dt_device_close(dev);
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
