/* Whole-model gradients of the `tiny` preset against central finite
 * differences of an independent double-precision forward pass, for sampled
 * parameters of every tensor (the largest-gradient entry plus random ones). */
#include <math.h>
#include <string.h>

#include "model/model.h"
#include "tests/training/ref_transformer.h"
#include "tests/training/train_util.h"

#define SAMPLES_PER_TENSOR 6

int main(void) {
    int failures = 0;
    dt_device *dev = test_open_device();
    model_config c;
    MUST(model_config_preset("tiny", &c));
    c.seq_len = 16; /* keep the double-precision reference quick */
    const int64_t batch = 2, n = batch * c.seq_len;
    model *m = NULL;
    MUST(model_create(dev, &c, batch, &m));
    MUST(model_init_weights(m));
    const model_layout *l = model_get_layout(m);

    int32_t *tokens = malloc((size_t)n * 4), *targets = malloc((size_t)n * 4);
    uint64_t s = 12345;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        tokens[i] = (int32_t)((s >> 33) % (uint64_t)c.vocab_size);
        targets[i] = (int32_t)((s >> 17) % (uint64_t)c.vocab_size);
    }
    float loss = 0.0f;
    MUST(model_forward_backward(m, tokens, targets, (float)(1.0 / (double)n), MODEL_GRAD_OVERWRITE,
                                &loss));

    float *wf = malloc((size_t)l->total * 4), *gf = malloc((size_t)l->total * 4);
    double *w = malloc((size_t)l->total * 8);
    MUST(model_download_weights(m, wf));
    int64_t at = 0;
    for (int i = 0; i < l->n_params; i++) {
        MUST(dt_buffer_download(model_grads_buffer(m), l->params[i].offset, gf + at,
                                (size_t)l->params[i].numel * 4));
        at += l->params[i].numel;
    }
    for (int64_t i = 0; i < l->total; i++) w[i] = wf[i];

    double ref_loss = ref_model_loss(&c, l, w, tokens, targets, batch);
    CHECK(fabs(ref_loss - loss) < 1e-4 * fabs(ref_loss), "forward loss %.7f vs reference %.7f",
          (double)loss, ref_loss);
    printf("loss: model %.7f, double reference %.7f\n", (double)loss, ref_loss);

    at = 0;
    int checked = 0;
    for (int i = 0; i < l->n_params; i++) {
        const model_param *p = &l->params[i];
        const float *g = gf + at;
        int64_t top = 0;
        double gmax = 0.0;
        for (int64_t j = 0; j < p->numel; j++)
            if (fabs(g[j]) > gmax) gmax = fabs(g[j]), top = j;
        double worst = 0.0;
        for (int k = 0; k < SAMPLES_PER_TENSOR; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            int64_t j = k == 0 ? top : (int64_t)((s >> 33) % (uint64_t)p->numel);
            double keep = w[at + j], h = 1e-4 * (fabs(keep) > 1.0 ? fabs(keep) : 1.0);
            w[at + j] = keep + h;
            double up = ref_model_loss(&c, l, w, tokens, targets, batch);
            w[at + j] = keep - h;
            double down = ref_model_loss(&c, l, w, tokens, targets, batch);
            w[at + j] = keep;
            double fd = (up - down) / (2.0 * h), err = fabs(fd - g[j]);
            /* Measured worst error is under 1e-5 of |grad| here: this bound
             * is 200x that, and a gradient 1% off (the largest entry is
             * always sampled) fails it. */
            double tol = 2e-3 * fabs(fd) + 1e-4 * gmax + 1e-8;
            if (err / tol > worst) worst = err / tol;
            CHECK(err <= tol, "%s[%lld]: backward %.6e, finite difference %.6e", p->name,
                  (long long)j, (double)g[j], fd);
            checked++;
        }
        printf("%-24s max |grad| %.3e  worst error/tolerance %.2e\n", p->name, gmax, worst);
        at += p->numel;
    }
    printf("%d gradient entries checked, %d failures\n", checked, failures);
    free(wf);
    free(gf);
    free(w);
    free(tokens);
    free(targets);
    model_destroy(m);
    dt_device_close(dev);
    return failures ? 1 : 0;
}
