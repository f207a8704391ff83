/* Shared helpers of the op tests: a seeded RNG, NMSE and exact comparisons,
 * guarded device tensors (guard bytes around every view, so out-of-bounds
 * writes are caught), device enumeration and reporting that always names
 * the device, the op, the case and the seed. */
#ifndef DISTRO_TESTS_TEST_UTIL_H
#define DISTRO_TESTS_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "distro/distro.h"

/* ctest's SKIP_RETURN_CODE. */
#define TEST_SKIP 77

/* A condition that must hold; when it does not, "FAIL file:line: <printf
 * message>" and one more in the counter `failures`. A test file defines
 * CHECK over it with its own counter. */
#define TEST_CHECK(failures, cond, ...)                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            (failures)++;                                                                          \
        }                                                                                          \
    } while (0)

/* The worst error of C = alpha op(A) op(B) + beta C0 (d's batch, strides and
 * transposes) against a double reference, each element's relative to its
 * sum of |alpha a b| + |beta c0|; NaN counts as infinite. */
double gemm_worst_error(const dt_gemm_desc *d, const float *a, const float *b, const float *c0,
                        const float *c);

/* 1 when a call returned `want` (or `want2`) and, when that is an error, its
 * message (dt_last_error) contains frag1 and frag2 (either may be NULL);
 * otherwise prints "FAIL line N: ..." naming `what` and returns 0. The
 * caller counts. */
int test_status_is(int line, dt_status got, dt_status want, dt_status want2, const char *what,
                   const char *frag1, const char *frag2);

/* ---- RNG: splitmix64 seeding a xorshift64* stream ------------------------ */

typedef struct rng {
    uint64_t s;
} rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_u64(rng *r);
double rng_uniform(rng *r);                             /* [0, 1) */
double rng_sym(rng *r);                                 /* [-1, 1) */
double rng_normal(rng *r);                              /* N(0, 1) */
int64_t rng_int(rng *r, int64_t lo, int64_t hi);        /* [lo, hi) */
void rng_fill(rng *r, float *x, size_t n, float scale); /* uniform in [-scale, scale) */
void rng_shuffle_i32(rng *r, int32_t *x, size_t n);

uint64_t hash_str(const char *s);

/* DISTRO_TEST_SEED when set (decimal or 0x hex), else `fallback`. */
uint64_t test_seed(uint64_t fallback);
/* A fresh seed from the clock and the process id. */
uint64_t test_time_seed(void);

/* ---- comparisons ---------------------------------------------------------- */

/* sum((got - want)^2) / sum(want^2); the plain sum of squares when want is
 * all zero. INFINITY when anything is NaN or infinite: NaN never passes. */
double nmse(const float *got, const double *want, size_t n);
/* The same with the denominator at least den_floor: for a slice of a
 * result that can be (mathematically) zero, e.g. dq of a one-token sequence,
 * whose rounding noise must be judged at the scale of the whole result. */
double nmse_floor(const float *got, const double *want, size_t n, double den_floor);
double nmse_dd(const double *got, const double *want, size_t n);

void f2d(const float *x, double *y, size_t n);
void d2f(const double *x, float *y, size_t n);

/* ---- the test context ----------------------------------------------------- */

/* Tolerance classes; each test program sets the values for its mode. */
typedef enum tol_class {
    TOL_ELEM,      /* elementwise: add, scale, swiglu, rope, embedding, momentum, adamw */
    TOL_NORM,      /* short reductions per row: rmsnorm, softmax_xent */
    TOL_TRANSFORM, /* DCT encode / decode (sums over one tile) */
    TOL_REDUCE,    /* long reductions: sum_squares */
    TOL_GEMM,      /* gemm, attention */
    TOL_COUNT
} tol_class;

typedef struct tc {
    uint64_t seed;
    rng r;
    dt_device *dut;     /* device under test */
    dt_device *ref;     /* expected results from this device; NULL: the double reference */
    const char *versus; /* what the expected values are, for the summary lines (optional) */
    double tol[TOL_COUNT];
    int verbose;
    /* the op family being checked, for the one summary line per (device, op) */
    const char *op;
    char label[160]; /* the current case */
    int op_cases, op_failed;
    double op_worst;
    /* totals */
    int ops_passed, ops_failed, failures;
    /* host allocations of the current case, freed by the next tc_case() */
    void *allocs[96];
    int n_allocs;
} tc;

void tc_init(tc *c, uint64_t seed);
/* Starts an op family: reseeds the RNG from (seed, op) so each family
 * reproduces on its own, whatever ran before it. */
void tc_begin_op(tc *c, const char *op);
/* Prints "PASS|FAIL <device> <op> ..." with the worst NMSE seen. */
void tc_end_op(tc *c);
/* Names the current case (printed with any failure); frees the previous
 * case's host allocations. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void tc_case(tc *c, const char *fmt, ...);
/* Zeroed host memory that lives until the next tc_case / tc_end_op. */
void *tc_alloc(tc *c, size_t bytes);
#define TC_NEW(c, type, n) ((type *)tc_alloc((c), sizeof(type) * (size_t)(n)))

/* Records a failure of the current case and prints it with the seed. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
void tc_fail_at(tc *c, const char *file, int line, const char *fmt, ...);
#define TC_FAIL(c, ...) tc_fail_at((c), __FILE__, __LINE__, __VA_ARGS__)

/* Fails unless st is DT_OK; names the call, the device and dt_last_error(). */
int tc_ok_at(tc *c, const char *file, int line, dt_status st, dt_device *dev, const char *call);
#define TC_OK(c, st, dev, call) tc_ok_at((c), __FILE__, __LINE__, (st), (dev), (call))

/* NMSE check against `tol`; returns 1 on pass. Prints the worst elements on failure. */
int tc_nmse(tc *c, const char *what, const float *got, const double *want, size_t n, double tol);
int tc_nmse_floor(tc *c, const char *what, const float *got, const double *want, size_t n,
                  double tol, double den_floor);
/* Bitwise equality of n 32-bit words; returns 1 on pass. */
int tc_bits(tc *c, const char *what, const void *got, const void *want, size_t n);
/* Counts a check that passed without a number (exact comparisons). */
void tc_pass(tc *c, double value);

const char *dev_spec(const dt_device *dev);

/* ---- guarded device tensors ------------------------------------------------ */

/* A view inside a larger buffer: GUARD_PRE bytes before it and GUARD_POST
 * after it hold a byte pattern that no op may change. The leading guard is
 * not a multiple of 16 bytes on purpose: views may start at any multiple of
 * the element size. */
#define GUARD_PRE  (4 * 67)
#define GUARD_POST (4 * 61)
#define GUARD_BYTE 0xA5
/* Outputs that an op overwrites start out as this NaN, so an element it
 * forgets to write fails the comparison. */
#define POISON_BITS 0x7FC0BAD0u

typedef enum gt_kind {
    GT_IN,    /* uploaded; must be unchanged afterwards */
    GT_OUT,   /* poisoned with NaN; read back */
    GT_INOUT, /* uploaded; read back (in place, accumulating) */
} gt_kind;

typedef struct gt {
    dt_buffer *buf;
    dt_tensor t;
    gt_kind kind;
    size_t bytes;
    const void *orig; /* GT_IN: what was uploaded (caller's memory) */
    const char *name;
} gt;

/* The tensors of one op call on one device. Any failure (allocation,
 * upload, the op, a guard, a changed input) clears `ok` and is reported. */
typedef struct gt_set {
    tc *c;
    dt_device *dev;
    gt g[10];
    int n;
    int ok;
} gt_set;

void gs_init(gt_set *s, tc *c, dt_device *dev);
/* Returns the slot index; host may be NULL for GT_OUT. */
int gs_add(gt_set *s, const char *name, gt_kind kind, dt_dtype dt, int ndim, const int64_t *shape,
           const void *host);
static inline dt_tensor gs_t(const gt_set *s, int i) {
    return s->g[i].t;
}
/* Records the status of the op call. */
void gs_call(gt_set *s, dt_status st, const char *call);
/* Downloads slot i's view into host (when ok), checking its guards. */
void gs_read(gt_set *s, int i, void *host);
/* Checks every guard and every GT_IN, frees everything; returns ok. */
int gs_done(gt_set *s);

/* ---- devices ---------------------------------------------------------------- */

typedef struct test_dev {
    char spec[96]; /* what to open, device options included */
    char name[128];
    char backend[16];
} test_dev;

/* The devices a multi-device test should run on. Non-cpu devices of every
 * compiled backend, filtered by DISTRO_TEST_DEVICES (comma list of specs)
 * when set; the cpu device first when `with_cpu` (or when the filter names
 * it). Prints "SKIP <backend>: <why>" for a compiled backend without
 * devices. Returns the count, or -1 when the filter names a device that
 * does not exist (reported). */
int test_devices(int with_cpu, test_dev *out, int max);
/* The devices named by `specs` (with device options: "vulkan:0:kernels=gpu"),
 * in order, as given: how a test runs on one device in one configuration
 * (tests/CMakeLists.txt passes them as arguments). A spec whose backend is
 * not compiled in or whose device is not here is left out with a "SKIP"
 * line; a malformed spec or an unknown option is reported and gives -1. */
int test_devices_named(int n_specs, char *const *specs, test_dev *out, int max);

#endif
