/* Training on one device, with `workers` simulated peers. Each worker is a
 * model_worker, the same code a networked peer runs: worker w has peer id
 * w + 1 and its own data stream, momentum or error feedback and inner
 * optimizer state. A round runs every worker's local half in turn from the
 * same global weights, then the global half once with all their payloads
 * in ascending peer id, exactly as the coordinator does.
 *
 * AdamW is the dense baseline: one step averages the gradients of every
 * worker's micro-batches (the same tokens as N peers) and updates once. */
#ifndef DISTRO_MODEL_TRAINER_H
#define DISTRO_MODEL_TRAINER_H

#include "model/safetensors.h"
#include "model/worker.h"

/* The largest data seed: below 2^53, so that a seed written as a JSON number
 * (a checkpoint's training options, a run config) reads back exactly. */
#define MODEL_SEED_MAX 9000000000000000LL

typedef struct model_train_options {
    model_optimizer optimizer;
    model_schedule schedule;  /* schedule.total is the run's step count */
    int64_t accum;            /* micro-batches per step and worker */
    int64_t workers;          /* simulated peers (1) */
    model_adamw_config adamw; /* AdamW, and the inner optimizer of local steps */
    model_demo_config demo;   /* DeMo, and the compression of local steps */
    int64_t inner_steps;      /* local steps: H */
    float outer_lr;           /* local steps: the outer step's lr (1) */
    uint64_t data_seed;       /* batches: pure function of (seed, step, peer, micro) */
    int64_t eval_batches;     /* validation batches per evaluation */
} model_train_options;

void model_train_options_default(model_train_options *o, model_optimizer opt);

/* One round: one optimizer step, or H of them with local steps. */
typedef struct model_step_report {
    int64_t step;  /* the last optimizer step taken, 0-based */
    int64_t steps; /* optimizer steps this round covered */
    float loss;    /* mean training loss over its micro-batches */
    float lr;
    double grad_norm;     /* before clipping */
    size_t payload_bytes; /* bytes each peer sends this round; AdamW: 0 */
    int64_t tokens;       /* trained in this round by all workers */
    double seconds;       /* wall time of this step */
} model_step_report;

typedef struct model_trainer model_trainer;

dt_status model_trainer_create(model *m, const model_dataset *ds, const model_train_options *o,
                               model_trainer **out);
void model_trainer_destroy(model_trainer *t);

/* The next step to run (0 after create, the checkpoint's step after resume). */
int64_t model_trainer_next_step(const model_trainer *t);
/* Optimizer steps per round: 1, or H with local steps. */
int64_t model_trainer_steps_per_round(const model_trainer *t);

dt_status model_trainer_step(model_trainer *t, model_step_report *r);

/* One micro-batch of a step: whose data stream and which micro index. */
typedef struct model_micro_ref {
    uint32_t peer;
    int64_t micro;
} model_micro_ref;

/* AdamW only: one step on exactly these n micro-batches, e.g. the union of
 * the micro-batches a networked round applied (the baseline of `run`). */
dt_status model_trainer_step_on(model_trainer *t, const model_micro_ref *refs, int64_t n,
                                model_step_report *r);
/* Mean loss over the options' validation batches. */
dt_status model_trainer_eval(model_trainer *t, float *val_loss);

/* Save weights, optimizer state and the step; resume restores all three so
 * that k steps + save + resume + (n - k) steps gives the bits of n steps. */
dt_status model_trainer_save(model_trainer *t, const char *path);
/* save, plus up to 8 metadata entries of the caller's (the command line's
 * training options, so a resume can take them: cli/train_setup.c). */
dt_status model_trainer_save_with(model_trainer *t, const char *path, const st_metadata *more,
                                  int n_more);
dt_status model_trainer_resume(model_trainer *t, const char *path);

#endif
