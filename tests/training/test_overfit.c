/* Both optimizers must drive one fixed small batch to a loss below 0.1:
 * the end-to-end proof that forward, backward and update fit together.
 * DeMo runs its full path (compress, apply with one contributor, confirm). */
#include <string.h>

#include "model/trainer.h"
#include "tests/training/train_util.h"

static float overfit(dt_device *dev, model_optimizer opt, int max_steps, int *steps_taken) {
    model_config c;
    MUST(model_config_preset("tiny", &c));
    const int64_t batch = 2, n = batch * c.seq_len;
    model *m = NULL;
    MUST(model_create(dev, &c, batch, &m));
    MUST(model_init_weights(m));
    model_dataset *ds = NULL;
    MUST(model_dataset_open("builtin:tinyshakespeare", c.vocab_size, &ds));
    int32_t *tokens = malloc((size_t)n * 4), *targets = malloc((size_t)n * 4);
    MUST(model_dataset_train_batch(ds, 7, 0, 0, 0, batch, c.seq_len, tokens, targets));

    model_adamw *adamw = NULL;
    model_demo *demo = NULL;
    uint8_t *payload = NULL;
    size_t len = 0;
    if (opt == MODEL_OPT_ADAMW) {
        model_adamw_config ac;
        model_adamw_config_default(&ac);
        ac.weight_decay = 0.0f;
        MUST(model_adamw_create(m, &ac, &adamw));
    } else {
        model_demo_config dc;
        model_demo_config_default(&dc);
        dc.beta = 0.9f;
        MUST(model_demo_create(m, &dc, &demo));
        len = model_demo_payload_bytes(demo);
        payload = malloc(len);
    }
    float loss = 1e9f;
    int step = 0;
    for (; step < max_steps && loss >= 0.1f; step++) {
        MUST(model_forward_backward(m, tokens, targets, (float)(1.0 / (double)n),
                                    MODEL_GRAD_OVERWRITE, &loss));
        if (adamw) {
            MUST(model_adamw_step(adamw, 3e-3f, step + 1, NULL));
        } else {
            const uint8_t *p[1] = {payload};
            float lr = step < 150 ? 2e-3f : 5e-4f;
            MUST(model_demo_compress(demo, 1, step, lr, payload, NULL));
            MUST(model_demo_apply(demo, 1, step, p, &len, 1, lr, 1.0f));
            MUST(model_demo_confirm(demo));
        }
    }
    *steps_taken = step;
    model_adamw_destroy(adamw);
    model_demo_destroy(demo);
    free(payload);
    free(tokens);
    free(targets);
    model_dataset_close(ds);
    model_destroy(m);
    return loss;
}

int main(void) {
    int failures = 0;
    dt_device *dev = test_open_device();
    for (int opt = 0; opt < 2; opt++) {
        int steps = 0;
        float loss = overfit(dev, (model_optimizer)opt, 600, &steps);
        printf("%s: loss %.4f after %d steps\n", model_optimizer_name((model_optimizer)opt),
               (double)loss, steps);
        CHECK(loss < 0.1f, "%s did not overfit one batch: loss %.4f after %d steps",
              model_optimizer_name((model_optimizer)opt), (double)loss, steps);
    }
    dt_device_close(dev);
    return failures ? 1 : 0;
}
