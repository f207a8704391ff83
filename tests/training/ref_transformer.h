/* An independent double-precision forward pass of the whole model, written
 * from DESIGN.md section 3 and the op semantics in include/distro/ops.h
 * (not from model/), for finite-difference gradient checks. */
#ifndef DISTRO_TEST_REF_TRANSFORMER_H
#define DISTRO_TEST_REF_TRANSFORMER_H

#include <stdint.h>

#include "model/layout.h"

/* Mean cross-entropy over batch x seq tokens; w holds every parameter in
 * layout order (dense, layout.total doubles). */
double ref_model_loss(const model_config *c, const model_layout *l, const double *w,
                      const int32_t *tokens, const int32_t *targets, int64_t batch);

#endif
