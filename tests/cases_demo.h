/* Tensor shapes and index generators shared by the DeMo op checks. */
#ifndef DISTRO_TESTS_CASES_DEMO_H
#define DISTRO_TESTS_CASES_DEMO_H

#include "tests/op_cases.h"

typedef struct demo_shape {
    int ndim;
    int64_t shape[3];
    int64_t chunk;
} demo_shape;

extern const demo_shape demo_shapes[];
extern const int n_demo_shapes;

/* The tile plan (0 on failure, reported), and its DCT bases in memory of the
 * current case: call after tc_case(), which frees the previous case's. */
int demo_plan(tc *c, const demo_shape *ds, dt_tile_plan *p);
void demo_bases(tc *c, const dt_tile_plan *p, float **f1, float **f2);
const char *demo_shape_str(const demo_shape *ds, const dt_tile_plan *p, char *buf, size_t len);
/* Per tile, k distinct in-range indices in random order; with `bad`, some
 * replaced by distinct out-of-range values. */
void demo_indices(tc *c, int64_t n_tiles, int64_t S, int64_t k, int bad, int32_t *idx);

#endif
