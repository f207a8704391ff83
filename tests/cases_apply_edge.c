/* Knife-edge data for the canonical dt_demo_apply.
 *
 * The sign step hides almost every low-bit difference, so random data would
 * let a backend that sums in another order, contracts to FMA, accumulates
 * wider or divides by the count pass a bit-exact comparison -- and then
 * drift from the other replicas once in a million steps. These tiles are
 * built so that exactly such a deviation flips a sign:
 *
 * 4 x 4 tiles, where F[h][0] = 0.5 and F[h][2] = -0.5 exactly for h = 1, 2:
 *  - ORDER_A / ORDER_B: a column (or row) with v, v at 0 and 2 and a tiny
 *    t at 1 or 3, so 0.5v - 0.5v cancels exactly and t survives or is
 *    absorbed depending on the order and width of the sum;
 *  - FMA_A / FMA_B: x, y at 1 and 3 with round(F x) = -round(F' y) but
 *    F x + F' y != 0, so the unfused sum is 0 and a fused one is not;
 *  - RECIP: one slot averaged over three contributors, where acc * (1/3)
 *    rounds differently from acc / 3, next to a slot holding acc / 3.
 * 1 x 1 tiles: three contributions v, -v, t in every order, so the result
 * depends on the order of the contributions.
 *
 * Every round runs under both update rules. The scaled rule hides nothing
 * of X, but W must be small next to lr * X for X's low bits to survive the
 * subtraction, so its rounds use a larger lr and a smaller W; they also
 * catch a final step fused into one FMA, which sign cannot show.
 *
 * In the reference test each variant of ref_demo_apply_variant() must
 * change the result: that proves the data can catch it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/op_cases.h"

enum { ORDER_A, ORDER_B, FMA_A, FMA_B, RECIP, N_FLAVOURS };

static const char *variant_names[REF_APPLY_VARIANTS] = {"canonical",
                                                        "fused multiply-add",
                                                        "double accumulation",
                                                        "descending sums",
                                                        "division by the count",
                                                        "contributions in reverse order",
                                                        "W * decay fused into the step",
                                                        "lr * s fused into the step"};
static const char *update_name[] = {"sign", "scaled"};

/* x, y with round(p * x) == -round(q * y) and p x + q y != 0 exactly
 * (float products are exact in double). */
static void fma_pair(tc *c, float p, float q, float *x, float *y) {
    for (;;) {
        float xv = (float)((0.5 + 0.5 * rng_uniform(&c->r)) * (rng_u64(&c->r) & 1 ? -1 : 1));
        float px = p * xv;
        float y0 = (float)(-(double)px / (double)q);
        for (int step = -3; step <= 3; step++) {
            float yv = y0;
            for (int s = 0; s < (step < 0 ? -step : step); s++)
                yv = nextafterf(yv, step < 0 ? -INFINITY : INFINITY);
            if (q * yv == -px && (double)p * xv + (double)q * yv != 0.0) {
                *x = xv;
                *y = yv;
                return;
            }
        }
    }
}

/* x with fl(fl(x + x) + x) * (float)(1/3) != fl(...) / 3. */
static float recip_value(tc *c, float r3, float *div) {
    for (;;) {
        float x = (float)(1.0 + rng_uniform(&c->r));
        float acc = x + x;
        acc = acc + x;
        if (acc * r3 != acc / 3.0f) {
            *div = acc / 3.0f;
            return x;
        }
    }
}

/* Entry e of contributor ci in tile t. */
static void put(int32_t *idx, float *vals, int64_t T, int64_t k, int64_t ci, int64_t t, int64_t e,
                int32_t slot, float v) {
    idx[(ci * T + t) * k + e] = slot;
    vals[(ci * T + t) * k + e] = v;
}

/* Slot of position i along the summed dimension of a 4 x 4 tile: down
 * column `line` (the first IDCT sum), or along row 0 (the second, where
 * Y = 0.5 A exactly). */
static int32_t slot(int transposed, int32_t line, int32_t i) {
    return transposed ? i : i * 4 + line;
}

static int run_apply(tc *c, dt_device *dev, const int64_t *shape, const dt_tile_plan *p, int64_t k,
                     int64_t n_contrib, const int32_t *idx, const float *vals, const float *recip,
                     const float *f1, const float *f2, float *w, float lr, float decay,
                     dt_demo_update update) {
    gt_set s;
    gs_init(&s, c, dev);
    int64_t sk[3] = {n_contrib, p->n_tiles, k}, nr = n_contrib + 1;
    int ii = gs_add(&s, "idx", GT_IN, DT_I32, 3, sk, idx);
    int iv = gs_add(&s, "vals", GT_IN, DT_F32, 3, sk, vals);
    int ir = gs_add(&s, "recip", GT_IN, DT_F32, 1, &nr, recip);
    int i1 = gs_add(&s, "f1", GT_IN, DT_F32, 2, (int64_t[]){p->tile_rows, p->tile_rows}, f1);
    int i2 = gs_add(&s, "f2", GT_IN, DT_F32, 2, (int64_t[]){p->tile_cols, p->tile_cols}, f2);
    int iw = gs_add(&s, "W", GT_INOUT, DT_F32, 2, shape, w);
    if (s.ok)
        gs_call(&s,
                dt_demo_apply(dev, p, gs_t(&s, ii), gs_t(&s, iv), n_contrib, gs_t(&s, ir),
                              gs_t(&s, i1), gs_t(&s, i2), gs_t(&s, iw), lr, decay, update),
                "dt_demo_apply");
    gs_read(&s, iw, w);
    return gs_done(&s);
}

/* Runs one knife-edge round on the device, compares bits, and in the
 * reference test proves that each listed variant changes the result. */
static void edge_round(tc *c, dt_demo_update u, const int64_t *shape, const dt_tile_plan *p,
                       int64_t k, int64_t n_contrib, const int32_t *idx, const float *vals,
                       const float *f, const int *must_differ) {
    size_t nw = (size_t)(p->rows * p->cols);
    float *recip = TC_NEW(c, float, n_contrib + 1);
    dt_recip_table((int)n_contrib, recip);
    /* The edges leave differences down to ~1e-9 in X: with lr = 0.7 and
     * |W| < 1e-4 (an ulp near 7e-12) they reach W under the scaled rule. */
    const int scaled = u == DT_DEMO_UPDATE_SCALED;
    float lr = scaled ? 0.7f : 1e-3f, decay = (float)(1.0 - 1e-4);
    float *w0 = rand_f(c, nw, scaled ? 1e-4f : 0.1f), *got = copy_f(c, w0, nw),
          *want = copy_f(c, w0, nw);
    if (!c->ref) {
        ref_demo_apply_f(p, idx, vals, k, n_contrib, recip, f, f, want, lr, decay, u);
        for (int v = 1; v < REF_APPLY_VARIANTS; v++) {
            if (!must_differ[v]) continue;
            float *alt = copy_f(c, w0, nw);
            ref_demo_apply_variant(p, idx, vals, k, n_contrib, recip, f, f, alt, lr, decay, u, v);
            if (memcmp(alt, want, nw * sizeof(float)) == 0)
                TC_FAIL(c, "test data is not knife-edge: %s gives the canonical bits (%s rule)",
                        variant_names[v], update_name[u]);
            else
                tc_pass(c, 0.0);
        }
    }
    if (!run_apply(c, c->dut, shape, p, k, n_contrib, idx, vals, recip, f, f, got, lr, decay, u))
        return;
    if (c->ref &&
        !run_apply(c, c->ref, shape, p, k, n_contrib, idx, vals, recip, f, f, want, lr, decay, u))
        return;
    if (tc_bits(c, "W", got, want, nw)) return;
    /* Name the likely cause: which deviation reproduces the device's bits. */
    for (int v = 1; v < REF_APPLY_VARIANTS; v++) {
        float *alt = copy_f(c, w0, nw);
        ref_demo_apply_variant(p, idx, vals, k, n_contrib, recip, f, f, alt, lr, decay, u, v);
        if (memcmp(alt, got, nw * sizeof(float)) == 0)
            printf("    the device's bits match the %s variant\n", variant_names[v]);
    }
}

static void edge_4x4(tc *c, dt_demo_update u, int64_t rows, int64_t cols) {
    int64_t shape[2] = {rows, cols};
    dt_tile_plan p;
    if (!TC_OK(c, dt_demo_tile_plan(2, shape, 4, &p), NULL, "dt_demo_tile_plan")) return;
    tc_case(c, "[%lld, %lld] in 4x4 tiles: order, width, FMA and reciprocal knife edges, %s rule",
            (long long)rows, (long long)cols, update_name[u]);
    float *f = TC_NEW(c, float, 16);
    dt_dct_basis(4, f);
    if (f[0] != 0.5f || f[1 * 4 + 2] != -0.5f || f[2 * 4 + 2] != -0.5f || f[1 * 4 + 0] != 0.5f) {
        TC_FAIL(c, "test assumption broken: the 4-point basis is not +-0.5 in columns 0 and 2");
        return;
    }
    const int64_t T = p.n_tiles, k = 3, n_contrib = 4;
    size_t ns = (size_t)(n_contrib * T * k);
    int32_t *idx = TC_NEW(c, int32_t, ns);
    float *vals = TC_NEW(c, float, ns);
    for (size_t i = 0; i < ns; i++) idx[i] = -1; /* unused entries are skipped */
    float r3 = (float)(1.0 / 3.0);
    for (int64_t t = 0; t < T; t++) {
        int flavour = (int)(t % N_FLAVOURS);
        int32_t line = (int32_t)rng_int(&c->r, 0, 4); /* the column (A) or row (B) used */
        int transposed = flavour == ORDER_B || flavour == FMA_B;
        float v = ldexpf(rng_u64(&c->r) & 1 ? 1.0f : -1.0f, (int)rng_int(&c->r, -3, 4));
        float tiny = v * (float)ldexp(1.0 + 0.4 * rng_uniform(&c->r), -26);
        if (rng_u64(&c->r) & 1) tiny = -tiny;
        if (flavour == ORDER_A || flavour == ORDER_B) {
            /* 1: absorbed when summed ascending in float (a wider sum keeps
             * it); 3: survives ascending (a descending sum absorbs it).
             * Alternate, so every plan has both. */
            int32_t tpos = (t / N_FLAVOURS) % 2 ? 1 : 3;
            put(idx, vals, T, k, t % 3, t, 0, slot(transposed, line, 0), v);
            put(idx, vals, T, k, (t + 1) % 3, t, 1, slot(transposed, line, 2), v);
            put(idx, vals, T, k, 3, t, 2, slot(transposed, line, tpos), tiny);
        } else if (flavour == FMA_A || flavour == FMA_B) {
            /* The knife edge is on one output line: row h of Y (A), or
             * column w of X (B, where Y = 0.5 A exactly). */
            int64_t h = rng_int(&c->r, 0, 4);
            float pf = f[h * 4 + 1], qf = f[h * 4 + 3], x, y;
            if (transposed) pf *= 0.5f, qf *= 0.5f;
            fma_pair(c, pf, qf, &x, &y);
            put(idx, vals, T, k, 2, t, 0, slot(transposed, line, 1), x);
            put(idx, vals, T, k, 0, t, 1, slot(transposed, line, 3), y);
        } else {
            float div, x = recip_value(c, r3, &div);
            for (int64_t ci = 0; ci < 3; ci++) put(idx, vals, T, k, ci, t, ci, slot(0, line, 0), x);
            put(idx, vals, T, k, 3, t, 0, slot(0, line, 2), div);
        }
    }
    int must[REF_APPLY_VARIANTS] = {0};
    must[REF_APPLY_FMA] = must[REF_APPLY_WIDE] = must[REF_APPLY_DESCENDING] = 1;
    must[REF_APPLY_DIVIDE] = must[REF_APPLY_FMA_DECAY] = 1;
    must[REF_APPLY_FMA_STEP] = u == DT_DEMO_UPDATE_SCALED;
    edge_round(c, u, shape, &p, k, n_contrib, idx, vals, f, must);
}

static void edge_1x1(tc *c, dt_demo_update u) {
    int64_t shape[2] = {67, 71}; /* primes: 1 x 1 tiles */
    dt_tile_plan p;
    if (!TC_OK(c, dt_demo_tile_plan(2, shape, 64, &p), NULL, "dt_demo_tile_plan")) return;
    tc_case(c, "[67, 71] in 1x1 tiles: contribution order knife edges, %s rule", update_name[u]);
    float one = 1.0f;
    const int64_t T = p.n_tiles, k = 1, n_contrib = 3;
    size_t ns = (size_t)(n_contrib * T * k);
    int32_t *idx = TC_NEW(c, int32_t, ns);
    float *vals = TC_NEW(c, float, ns);
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int64_t t = 0; t < T; t++) {
        float v = ldexpf(rng_u64(&c->r) & 1 ? 1.0f : -1.0f, (int)rng_int(&c->r, -3, 4));
        float three[3] = {v, -v, v * (float)ldexp(1.0 + 0.4 * rng_uniform(&c->r), -26)};
        const int *perm = perms[t % 6];
        for (int64_t ci = 0; ci < 3; ci++) put(idx, vals, T, k, ci, t, 0, 0, three[perm[ci]]);
    }
    int must[REF_APPLY_VARIANTS] = {0};
    must[REF_APPLY_REVERSED] = must[REF_APPLY_WIDE] = 1;
    edge_round(c, u, shape, &p, k, n_contrib, idx, vals, &one, must);
}

void cases_apply_edge(tc *c) {
    tc_begin_op(c, "demo_apply_edge");
    const dt_demo_update rules[2] = {DT_DEMO_UPDATE_SIGN, DT_DEMO_UPDATE_SCALED};
    for (int r = 0; r < 2; r++) {
        edge_4x4(c, rules[r], 16, 20);
        edge_4x4(c, rules[r], 64, 64);
        edge_1x1(c, rules[r]);
    }
    tc_end_op(c);
}
