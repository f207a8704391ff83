/* Single-device training: one step is `accum` micro-batches of forward and
 * backward, then an optimizer update. DeMo runs its network path with one
 * contributor (compress, apply([own]), confirm), so a single device
 * exercises exactly what peers run. */
#ifndef DISTRO_MODEL_TRAINER_H
#define DISTRO_MODEL_TRAINER_H

#include "model/adamw.h"
#include "model/dataset.h"
#include "model/demo.h"
#include "model/schedule.h"

typedef enum model_optimizer {
    MODEL_OPT_ADAMW = 0,
    MODEL_OPT_DEMO = 1,
} model_optimizer;

const char *model_optimizer_name(model_optimizer o); /* "adamw", "demo" */

typedef struct model_train_options {
    model_optimizer optimizer;
    model_schedule schedule; /* schedule.total is the run's step count */
    int64_t accum;           /* micro-batches per step */
    model_adamw_config adamw;
    model_demo_config demo;
    uint64_t data_seed;   /* batches: pure function of (seed, step, peer 0, micro) */
    int64_t eval_batches; /* validation batches per evaluation */
} model_train_options;

void model_train_options_default(model_train_options *o, model_optimizer opt);

typedef struct model_step_report {
    int64_t step; /* the step just taken, 0-based */
    float loss;   /* mean training loss over its micro-batches */
    float lr;
    double grad_norm;     /* before clipping */
    size_t payload_bytes; /* DeMo: bytes this peer would send; AdamW: 0 */
    int64_t tokens;       /* trained in this step */
    double seconds;       /* wall time of this step */
} model_step_report;

typedef struct model_trainer model_trainer;

dt_status model_trainer_create(model *m, const model_dataset *ds, const model_train_options *o,
                               model_trainer **out);
void model_trainer_destroy(model_trainer *t);

/* The next step to run (0 after create, the checkpoint's step after resume). */
int64_t model_trainer_next_step(const model_trainer *t);

dt_status model_trainer_step(model_trainer *t, model_step_report *r);
/* Mean loss over the options' validation batches. */
dt_status model_trainer_eval(model_trainer *t, float *val_loss);

/* Save weights, optimizer state and the step; resume restores all three so
 * that k steps + save + resume + (n - k) steps gives the bits of n steps. */
dt_status model_trainer_save(model_trainer *t, const char *path);
dt_status model_trainer_resume(model_trainer *t, const char *path);

#endif
