/* The op checks shared by test_cpu_reference and test_parity.
 *
 * Every case builds random host inputs, runs the op on c->dut inside guarded
 * buffers, and compares with the expected result: from the double reference
 * (tests/ref_ops.h) when c->ref is NULL, else from the same op run on c->ref
 * (the cpu device) on identical inputs. Exact ops (top-k, copy, fill,
 * check_finite, the canonical dt_demo_apply) are compared bit for bit in both
 * modes; the canonical op against the float reference when c->ref is NULL. */
#ifndef DISTRO_TESTS_OP_CASES_H
#define DISTRO_TESTS_OP_CASES_H

#include "tests/ref_ops.h"
#include "tests/test_util.h"

void cases_gemm(tc *c); /* cases_gemm.c: gemm, matmul */
void cases_nn(tc *c);   /* cases_nn.c: embedding, rmsnorm, rope, swiglu */
void cases_elem(tc *c); /* cases_elem.c: add, scale, copy, fill, sum_squares, check_finite, adamw */
void cases_attn_xent(tc *c);  /* cases_attn.c: attention fwd/bwd, softmax_xent */
void cases_demo(tc *c);       /* cases_demo.c: momentum, encode, topk, decode_sub */
void cases_apply(tc *c);      /* cases_apply.c: the canonical dt_demo_apply */
void cases_apply_edge(tc *c); /* cases_apply_edge.c: knife-edge data for it */

static inline void cases_all(tc *c) {
    cases_gemm(c);
    cases_nn(c);
    cases_elem(c);
    cases_attn_xent(c);
    cases_demo(c);
    cases_apply(c);
    cases_apply_edge(c);
}

/* Case-lifetime helpers (memory from tc_alloc). */
static inline float *rand_f(tc *c, size_t n, float scale) {
    float *x = TC_NEW(c, float, n);
    rng_fill(&c->r, x, n, scale);
    return x;
}
static inline double *widen(tc *c, const float *x, size_t n) {
    double *y = TC_NEW(c, double, n);
    f2d(x, y, n);
    return y;
}
static inline float *copy_f(tc *c, const float *x, size_t n) {
    float *y = TC_NEW(c, float, n);
    for (size_t i = 0; i < n; i++) y[i] = x[i];
    return y;
}

#endif
