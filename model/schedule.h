/* Learning-rate schedule: linear warmup, then cosine decay to a fraction
 * of the peak. */
#ifndef DISTRO_MODEL_SCHEDULE_H
#define DISTRO_MODEL_SCHEDULE_H

#include <stdint.h>

typedef struct model_schedule {
    float lr;         /* peak */
    int64_t warmup;   /* steps of linear warmup */
    int64_t total;    /* steps in the run */
    float final_frac; /* lr at the end = final_frac * lr */
} model_schedule;

/* Learning rate of step `step` (0-based). */
float model_schedule_lr(const model_schedule *s, int64_t step);

#endif
