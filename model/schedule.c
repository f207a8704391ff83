#include <math.h>

#include "model/schedule.h"

float model_schedule_lr(const model_schedule *s, int64_t step) {
    if (s->warmup > 0 && step < s->warmup)
        return (float)((double)s->lr * (double)(step + 1) / (double)s->warmup);
    int64_t span = s->total - s->warmup;
    double progress = span > 1 ? (double)(step - s->warmup) / (double)(span - 1) : 1.0;
    if (progress > 1.0) progress = 1.0;
    double lo = (double)s->lr * (double)s->final_frac;
    return (float)(lo +
                   ((double)s->lr - lo) * 0.5 * (1.0 + cos(3.14159265358979323846 * progress)));
}
