/* One peer's half of a training round, and the global half every replica
 * runs. The same code serves a simulated worker in `train --workers N`, a
 * networked peer, and (for the global half) the coordinator:
 *
 *   local   model_worker_round: this round's micro-batches -> gradients ->
 *           the optimizer's local state -> this peer's payload. The model's
 *           weights hold the global weights theta before and after.
 *   global  model_worker_apply: the round's payloads (ascending peer id) ->
 *           the canonical update of theta; then model_worker_confirm when
 *           this worker's payload was among them, model_worker_discard when
 *           it was not.
 *
 * DeMo (DESIGN.md 3): a round is one optimizer step. The gradient of the
 * assigned micro-batches enters the momentum D = beta D + lr g, whose
 * largest DCT coefficients are the payload; theta moves by lr * sign.
 *
 * Local steps (the SparseLoCo / DiLoCo family, arXiv 2508.15706): a round is
 * H inner AdamW steps from theta on this peer's own micro-batches. The
 * pseudo-gradient delta = theta - W_local joins an error-feedback buffer
 * e = beta e + delta, compressed exactly as DeMo compresses its momentum;
 * the outer step moves theta by outer_lr times the decoded mean (scaled) or
 * its sign. The inner AdamW moments stay with the peer across rounds. */
#ifndef DISTRO_MODEL_WORKER_H
#define DISTRO_MODEL_WORKER_H

#include <signal.h>

#include "model/adamw.h"
#include "model/dataset.h"
#include "model/demo.h"
#include "model/schedule.h"

typedef enum model_optimizer {
    MODEL_OPT_ADAMW = 0, /* dense: no payload, one device (the baseline) */
    MODEL_OPT_DEMO = 1,
    MODEL_OPT_LOCAL = 2, /* local steps with a compressed outer step */
} model_optimizer;

const char *model_optimizer_name(model_optimizer o); /* "adamw", "demo", "local" */
/* 0 and *o set, or -1 for a name that is none of the above. */
int model_optimizer_parse(const char *name, model_optimizer *o);

typedef struct model_sync_config {
    model_optimizer optimizer; /* MODEL_OPT_DEMO or MODEL_OPT_LOCAL */
    /* Compression. For local steps beta is the error-feedback decay and
     * update the outer rule (scaled or sign); clip is not used. */
    model_demo_config demo;
    /* Local steps only. */
    int64_t inner_steps;      /* H: inner optimizer steps per round */
    model_adamw_config inner; /* inner AdamW */
    model_schedule schedule;  /* lr of inner step s (0-based over the run) */
} model_sync_config;

/* Local-steps defaults, from docs/quality.md's sweeps on the shakespeare
 * preset (4 workers): H = 32, error-feedback decay 0.95 (Covenant-72B's
 * figure), each slot averaged over all contributors (an unchosen slot counts
 * as 0) and the scaled outer rule with outer lr 2 (twice the average makes up
 * for the slots few peers chose), inner AdamW peak lr 4e-3. The caller sets
 * the schedule. */
#define MODEL_LOCAL_LR       4e-3f
#define MODEL_LOCAL_OUTER_LR 2.0f
void model_sync_config_local_default(model_sync_config *c);

/* The outer step's lr of round `round` (H inner steps from step round * H,
 * fewer in a last round cut short by the schedule's total). Scaled: outer_lr
 * itself, the pseudo-gradients already carry the inner schedule. Sign: every
 * weight moves by the same amount, so that amount follows the schedule:
 * outer_lr times the sum of the round's inner learning rates (what H inner
 * steps of unit size would move a weight). */
float model_local_outer_lr(const model_schedule *s, int64_t round, int64_t H, float outer_lr,
                           dt_demo_update update);

/* What one round of one peer is: which data, and the step's lr for DeMo. */
typedef struct model_round {
    uint64_t run_id;
    int64_t round;                     /* 0-based: the payload's step */
    uint32_t peer;                     /* data stream: batches are f(seed, step, peer, micro) */
    int64_t n_micro;                   /* micro-batches per optimizer step */
    uint64_t data_seed;                /* ... */
    float lr;                          /* DeMo: this step's lr (folded into the momentum) */
    int64_t steps;                     /* local: inner steps this round, <= H (the run's last
                                          round may be shorter); 0 means H */
    volatile const sig_atomic_t *stop; /* optional: abandon the round when *stop */
} model_round;

typedef struct model_round_report {
    float loss;       /* mean training loss over the round's micro-batches */
    double grad_norm; /* DeMo: gradient norm; local: |delta| */
    int64_t tokens;   /* trained in this round */
} model_round_report;

typedef struct model_worker model_worker;

dt_status model_worker_create(model *m, const model_sync_config *cfg, model_worker **out);
void model_worker_destroy(model_worker *w);

/* Optimizer steps one round covers: 1 for DeMo, H for local steps. */
int64_t model_worker_steps_per_round(const model_worker *w);
size_t model_worker_payload_bytes(const model_worker *w);
const demo_geometry *model_worker_geometry(const model_worker *w);

/* The local half. payload holds model_worker_payload_bytes(). Returns
 * DT_OK with *stopped set when r->stop interrupted it (weights restored). */
dt_status model_worker_round(model_worker *w, const model_dataset *ds, const model_round *r,
                             uint8_t *payload, model_round_report *rep, bool *stopped);

/* The global half (see model_demo_apply): lr and decay are the
 * coordinator's float bits. */
dt_status model_worker_apply(model_worker *w, uint64_t run_id, int64_t round,
                             const uint8_t *const *payloads, const size_t *lens, int n, float lr,
                             float decay);
dt_status model_worker_confirm(model_worker *w);
void model_worker_discard(model_worker *w);

/* State a checkpoint holds for this worker: name prefixes and buffers laid
 * out like the weights. Returns the count (at most 3). */
typedef struct model_worker_state {
    const char *prefix;
    dt_buffer *buf;
} model_worker_state;
int model_worker_state_groups(const model_worker *w, model_worker_state *g);
/* Inner AdamW updates taken so far (bias correction); 0 for DeMo. */
int64_t model_worker_inner_count(const model_worker *w);
void model_worker_set_inner_count(model_worker *w, int64_t n);

#endif
