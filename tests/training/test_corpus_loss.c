/* On the embedded corpus, validation loss falls below 2.5 within a CI-sized
 * run, with AdamW and with DeMo: the `shakespeare` preset (0.89M
 * parameters), batch 12 x 64 tokens, 400 steps each (307k tokens). */
#include <math.h>
#include <string.h>
#include <time.h>

#include "model/trainer.h"
#include "tests/training/train_util.h"

static int failures;

int main(void) {
    dt_device *dev = test_open_device();
    const int64_t steps = 400;
    for (int opt = 0; opt < 2; opt++) {
        model_config c;
        MUST(model_config_preset("shakespeare", &c));
        model *m = NULL;
        model_dataset *ds = NULL;
        model_trainer *t = NULL;
        MUST(model_create(dev, &c, 12, &m));
        MUST(model_init_weights(m));
        MUST(model_dataset_open("builtin:tinyshakespeare", c.vocab_size, &ds));
        model_train_options o;
        model_train_options_default(&o, (model_optimizer)opt);
        o.schedule = (model_schedule){opt == MODEL_OPT_DEMO ? 1e-3f : 2e-3f, 40, steps, 0.1f};
        o.eval_batches = 20;
        MUST(model_trainer_create(m, ds, &o, &t));
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        model_step_report r;
        for (int64_t s = 0; s < steps; s++) MUST(model_trainer_step(t, &r));
        float val = 0.0f;
        MUST(model_trainer_eval(t, &val));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        printf("%s: val loss %.4f after %lld steps (%lld tokens) in %.1f s\n",
               model_optimizer_name((model_optimizer)opt), (double)val, (long long)steps,
               (long long)(steps * 12 * 64), secs);
        CHECK(val < 2.5f, "%s: val loss %.4f is not below 2.5",
              model_optimizer_name((model_optimizer)opt), (double)val);
        model_trainer_destroy(t);
        model_dataset_close(ds);
        model_destroy(m);
    }
    dt_device_close(dev);
    return failures ? 1 : 0;
}
