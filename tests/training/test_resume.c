/* Resume is bit-exact: 6 rounds equal 3 rounds + save + resume (into a
 * fresh model and optimizer) + 3 rounds, the same parameter hash, for AdamW,
 * DeMo, DeMo with two simulated workers, and local steps with two workers
 * (rounds of 2 inner steps: the inner AdamW moments, the error feedback and
 * the inner step count of every worker must survive). A copy of the saved
 * file with one byte flipped in its last optimizer state tensor is refused
 * by the resume, naming that state group (the checkpoint's sum.<prefix>). */
#include <cjson/cJSON.h>
#include <string.h>
#include <unistd.h>

#include "model/trainer.h"
#include "tests/training/train_util.h"

static int failures;

typedef struct run {
    dt_device *dev;
    model *m;
    model_dataset *ds;
    model_trainer *t;
} run;

typedef struct variant {
    const char *name;
    model_optimizer opt;
    int64_t workers, inner;
} variant;

static void run_open(run *r, dt_device *dev, const variant *v) {
    memset(r, 0, sizeof *r);
    r->dev = dev;
    model_config c;
    MUST(model_config_preset("tiny", &c));
    MUST(model_create(dev, &c, 2, &r->m));
    MUST(model_init_weights(r->m));
    MUST(model_dataset_open("builtin:tinyshakespeare", c.vocab_size, &r->ds));
    model_train_options o;
    model_train_options_default(&o, v->opt);
    o.workers = v->workers;
    if (v->opt == MODEL_OPT_LOCAL) o.inner_steps = v->inner;
    o.schedule = (model_schedule){2e-3f, 2, 6 * (v->opt == MODEL_OPT_LOCAL ? v->inner : 1), 0.1f};
    o.accum = 2;
    MUST(model_trainer_create(r->m, r->ds, &o, &r->t));
}

static void run_close(run *r) {
    model_trainer_destroy(r->t);
    model_dataset_close(r->ds);
    model_destroy(r->m);
}

static void steps(run *r, int n) {
    model_step_report rep;
    for (int i = 0; i < n; i++) MUST(model_trainer_step(r->t, &rep));
}

static uint64_t hash_of(run *r) {
    uint64_t h = 0;
    MUST(model_param_hash(r->m, &h));
    return h;
}

/* Copies `path` to `bad` with the low bit of the first byte of the tensor
 * stored last flipped (the last state group's last tensor); its group name
 * into group. Returns 0 on success. */
static int flip_last_state(const char *path, const char *bad, const model_layout *l, char *group,
                           size_t cap) {
    FILE *f = fopen(path, "rb");
    static unsigned char b[4u << 20];
    size_t len = f ? fread(b, 1, sizeof b, f) : 0;
    if (f) fclose(f);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
    if (len < 8 || n > len - 8) return -1;
    cJSON *h = cJSON_ParseWithLength((const char *)b + 8, (size_t)n), *e;
    double last = -1;
    const char *name = NULL;
    cJSON_ArrayForEach(e, h) {
        cJSON *off = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "data_offsets"), 0);
        if (cJSON_IsNumber(off) && off->valuedouble > last)
            last = off->valuedouble, name = e->string;
    }
    const char *param = l->params[l->n_params - 1].name;
    size_t k = name ? strlen(name) : 0, p = strlen(param);
    int rc = !name || k <= p + 1 || strcmp(name + k - p, param) != 0;
    if (!rc) snprintf(group, cap, "%.*s", (int)(k - p - 1), name);
    cJSON_Delete(h);
    if (rc) return -1;
    b[8 + n + (uint64_t)last] ^= 0x01;
    f = fopen(bad, "wb");
    rc = !f || fwrite(b, 1, len, f) != len;
    if (f && fclose(f) != 0) rc = 1;
    return rc ? -1 : 0;
}

/* A resume from a checkpoint whose optimizer state lost one bit fails with
 * DT_ERR_FORMAT naming the group, instead of training on silently. */
static void resume_damaged(dt_device *dev, const variant *v, const char *path) {
    char bad[80], group[64], want[96];
    snprintf(bad, sizeof bad, "%s.bad", path);
    run r;
    run_open(&r, dev, v);
    if (flip_last_state(path, bad, model_get_layout(r.m), group, sizeof group) != 0) {
        CHECK(0, "%s: cannot make a damaged copy of %s", v->name, path);
    } else {
        dt_status st = model_trainer_resume(r.t, bad);
        snprintf(want, sizeof want, "optimizer state group %s ", group);
        CHECK(st == DT_ERR_FORMAT && strstr(dt_last_error(), want) &&
                  strstr(dt_last_error(), "the file is damaged"),
              "%s: resume of a flipped byte in %s: %s (%s)", v->name, group, dt_status_name(st),
              dt_last_error());
        printf("%s: a flipped byte in %s is refused: %s\n", v->name, group, dt_last_error());
    }
    run_close(&r);
    remove(bad);
}

int main(void) {
    dt_device *dev = test_open_device();
    char path[64];
    snprintf(path, sizeof path, "/tmp/distro_resume_%d.safetensors", (int)getpid());
    static const variant variants[] = {{"adamw", MODEL_OPT_ADAMW, 1, 1},
                                       {"demo", MODEL_OPT_DEMO, 1, 1},
                                       {"demo, 2 workers", MODEL_OPT_DEMO, 2, 1},
                                       {"local, 2 workers, H 2", MODEL_OPT_LOCAL, 2, 2}};
    for (size_t vi = 0; vi < sizeof variants / sizeof variants[0]; vi++) {
        const variant *v = &variants[vi];
        const char *name = v->name;
        const int64_t per_round = v->opt == MODEL_OPT_LOCAL ? v->inner : 1;
        run straight, first, second;
        run_open(&straight, dev, v);
        steps(&straight, 6);
        uint64_t h6 = hash_of(&straight);

        run_open(&first, dev, v);
        steps(&first, 3);
        uint64_t h3 = hash_of(&first);
        MUST(model_trainer_save(first.t, path));
        run_close(&first);
        resume_damaged(dev, v, path);

        run_open(&second, dev, v);
        MUST(model_trainer_resume(second.t, path));
        CHECK(model_trainer_next_step(second.t) == 3 * per_round, "%s: resumed at step %lld", name,
              (long long)model_trainer_next_step(second.t));
        CHECK(hash_of(&second) == h3, "%s: weights after resume differ from the saved ones", name);
        steps(&second, 3);
        uint64_t resumed = hash_of(&second);
        printf("%s: 6 steps %016llx, 3 + resume + 3 %016llx, after 3 %016llx\n", name,
               (unsigned long long)h6, (unsigned long long)resumed, (unsigned long long)h3);
        CHECK(resumed == h6, "%s: resumed run ends with a different hash", name);
        CHECK(h3 != h6, "%s: training did not change the weights", name);
        run_close(&straight);
        run_close(&second);
        remove(path);
    }
    dt_device_close(dev);
    return failures ? 1 : 0;
}
