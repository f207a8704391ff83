/* The row-wise transformer ops: embedding, RMSNorm, RoPE, SwiGLU and the
 * fused softmax cross-entropy. Rows are independent, so each op is one
 * parallel pass over rows; the two weight gradients that sum over rows
 * (embedding dtable, RMSNorm dw) are split over columns instead, so every
 * column is summed by one thread in row order: race-free and the same bits
 * for any thread count. */
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_vec_math.h"

/* Weight gradients split over columns do so in whole cache lines. */
#define COL_CHUNK 16
/* RMSNorm backward works through rows in blocks of this many bytes of x and
 * dy together (see there). */
#define RMS_BLOCK_BYTES (512 * 1024)

/* Columns [lo, hi) of `cols` that thread tid of nt owns when a weight gradient
 * is split over columns: whole cache lines, so no false sharing. */
static void column_stripe(int64_t cols, int64_t *lo, int64_t *hi) {
    *lo = 0;
    *hi = cols;
#ifdef _OPENMP
    const int64_t nt = omp_get_num_threads(), tid = omp_get_thread_num();
    *lo = tid == 0 ? 0 : cols * tid / nt / COL_CHUNK * COL_CHUNK;
    *hi = tid == nt - 1 ? cols : cols * (tid + 1) / nt / COL_CHUNK * COL_CHUNK;
#endif
}

/* ---- embedding ----------------------------------------------------------- */

dt_status cpu_embedding_fwd(dt_device *dev, const dt_tensor *tokens, const dt_tensor *table,
                            const dt_tensor *out) {
    (void)dev;
    const int32_t *tok = cpu_i32(tokens);
    const float *tab = cpu_f32(table);
    float *o = cpu_f32(out);
    const int64_t n = dt_tensor_numel(tokens), vocab = table->shape[0], dim = table->shape[1];
#pragma omp parallel for schedule(static) if (n * dim >= CPU_PARALLEL_MIN)
    for (int64_t t = 0; t < n; t++) {
        const int32_t id = tok[t];
        if (id >= 0 && id < vocab)
            memcpy(o + t * dim, tab + (int64_t)id * dim, (size_t)dim * sizeof(float));
        else
            memset(o + t * dim, 0, (size_t)dim * sizeof(float));
    }
    return DT_OK;
}

dt_status cpu_embedding_bwd(dt_device *dev, const dt_tensor *tokens, const dt_tensor *dout,
                            const dt_tensor *dtable) {
    (void)dev;
    const int32_t *tok = cpu_i32(tokens);
    const float *d = cpu_f32(dout);
    float *dt = cpu_f32(dtable);
    const int64_t n = dt_tensor_numel(tokens), vocab = dtable->shape[0], dim = dtable->shape[1];
    /* A token may repeat: splitting over tokens would race on its row. Each
     * thread owns a stripe of columns and goes through the tokens in order. */
#pragma omp parallel if (n * dim >= CPU_PARALLEL_MIN)
    {
        int64_t c_lo, c_hi;
        column_stripe(dim, &c_lo, &c_hi);
        for (int64_t t = 0; t < n; t++) {
            const int32_t id = tok[t];
            if (id < 0 || id >= vocab) continue;
            float *row = dt + (int64_t)id * dim;
            const float *src = d + t * dim;
            for (int64_t j = c_lo; j < c_hi; j++) row[j] += src[j];
        }
    }
    return DT_OK;
}

/* ---- RMSNorm ------------------------------------------------------------- */

dt_status cpu_rmsnorm_fwd(dt_device *dev, const dt_tensor *x, const dt_tensor *w,
                          const dt_tensor *y, const dt_tensor *rstd, int64_t rows, int64_t cols,
                          float eps) {
    (void)dev;
    const float *px = cpu_f32(x), *pw = cpu_f32(w);
    float *py = cpu_f32(y), *pr = cpu_f32(rstd);
#pragma omp parallel for schedule(static) if (rows * cols >= CPU_PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = px + r * cols;
        float *yr = py + r * cols; /* may alias xr: the sum is taken before any write */
        const float rs = 1.0f / sqrtf(cpu_sum_sq(xr, cols) / (float)cols + eps);
        pr[r] = rs;
        for (int64_t c = 0; c < cols; c++) yr[c] = xr[c] * rs * pw[c];
    }
    return DT_OK;
}

/* With y = x r w and r = (mean(x^2) + eps)^(-1/2):
 *   dx_c = r w_c dy_c - x_c r^3 / cols * sum_j dy_j w_j x_j
 *   dw_c += sum_rows dy_c x_c r
 * The two terms of dx cancel when x dominates eps (completely for cols = 1),
 * so dx is formed in double: the op is memory-bound and the wider arithmetic
 * costs nothing measurable.
 * dx may alias dy, so dw must read a row of dy before dx overwrites it. Rows
 * go in blocks: first each thread adds the block's rows into its own stripe
 * of dw columns (row-major reads, every column summed in row order whatever
 * the thread count); then, after a barrier, the team writes dx for the
 * block, split over rows. */
/* dx of one row; dx may be dy. */
static void rmsnorm_bwd_row(const float *xr, const float *pw, float rstd, const float *dyr,
                            float *dxr, int64_t cols) {
    double acc[8] = {0};
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += (double)dyr[c + j] * (double)pw[c + j] * (double)xr[c + j];
    for (int j = 0; c + j < cols; j++)
        acc[j] += (double)dyr[c + j] * (double)pw[c + j] * (double)xr[c + j];
    const double rs = rstd;
    const double sum =
        ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    const double k = sum * rs * rs * rs / (double)cols;
    for (int64_t cc = 0; cc < cols; cc++) dxr[cc] = (float)(rs * pw[cc] * dyr[cc] - xr[cc] * k);
}

dt_status cpu_rmsnorm_bwd(dt_device *dev, const dt_tensor *x, const dt_tensor *w,
                          const dt_tensor *rstd, const dt_tensor *dy, const dt_tensor *dx,
                          const dt_tensor *dw, int64_t rows, int64_t cols) {
    (void)dev;
    const float *px = cpu_f32(x), *pw = cpu_f32(w), *pr = cpu_f32(rstd), *pdy = cpu_f32(dy);
    float *pdx = cpu_f32(dx), *pdw = cpu_f32(dw);
    /* Blocks of about RMS_BLOCK_BYTES of x and dy: few barriers, and a block
     * still in L2 when the dx pass reads it again. */
    const int64_t block = cols * 8 >= RMS_BLOCK_BYTES ? 1 : RMS_BLOCK_BYTES / (cols * 8);
#pragma omp parallel if (rows * cols >= CPU_PARALLEL_MIN)
    {
        int64_t c_lo, c_hi;
        column_stripe(cols, &c_lo, &c_hi);
        for (int64_t r0 = 0; r0 < rows; r0 += block) {
            const int64_t r1 = rows - r0 < block ? rows : r0 + block;
            for (int64_t r = r0; r < r1; r++) {
                const float *dyr = pdy + r * cols, *xr = px + r * cols;
                const float rs = pr[r];
                for (int64_t c = c_lo; c < c_hi; c++) pdw[c] += dyr[c] * xr[c] * rs;
            }
#pragma omp barrier
            /* No barrier after this loop: the next block's dw pass reads other
             * rows, and nothing here reads dw. */
#pragma omp for schedule(static) nowait
            for (int64_t r = r0; r < r1; r++)
                rmsnorm_bwd_row(px + r * cols, pw, pr[r], pdy + r * cols, pdx + r * cols, cols);
        }
    }
    return DT_OK;
}

/* ---- RoPE ---------------------------------------------------------------- */

dt_status cpu_rope(dt_device *dev, const dt_tensor *x, const dt_tensor *table, int64_t rows,
                   int64_t width, int64_t seq_len, int64_t head_dim, int64_t rot_cols,
                   int inverse) {
    (void)dev;
    float *px = cpu_f32(x);
    const float *tab = cpu_f32(table);
    const int64_t half = head_dim / 2, heads = rot_cols / head_dim;
    /* The inverse rotation is the forward one with the sine negated. */
    const float sign = inverse ? -1.0f : 1.0f;
#pragma omp parallel for schedule(static) if (rows * rot_cols >= CPU_PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *cs = tab + (r % seq_len) * half * 2;
        for (int64_t h = 0; h < heads; h++) {
            float *xh = px + r * width + h * head_dim;
            for (int64_t i = 0; i < half; i++) {
                const float c = cs[2 * i], s = sign * cs[2 * i + 1];
                const float x0 = xh[2 * i], x1 = xh[2 * i + 1];
                xh[2 * i] = x0 * c - x1 * s;
                xh[2 * i + 1] = x0 * s + x1 * c;
            }
        }
    }
    return DT_OK;
}

/* ---- SwiGLU -------------------------------------------------------------- */

dt_status cpu_swiglu_fwd(dt_device *dev, const dt_tensor *h, const dt_tensor *out, int64_t n,
                         int64_t f) {
    (void)dev;
    const float *ph = cpu_f32(h);
    float *po = cpu_f32(out);
#pragma omp parallel for schedule(static) if (n * f >= CPU_PARALLEL_MIN)
    for (int64_t r = 0; r < n; r++) {
        const float *g = ph + r * 2 * f, *u = g + f;
        float *o = po + r * f;
        for (int64_t j = 0; j < f; j++) o[j] = g[j] * cpu_sigmoidf(g[j]) * u[j];
    }
    return DT_OK;
}

/* d silu(g)/dg = s (1 + g (1 - s)) with s = sigmoid(g). */
dt_status cpu_swiglu_bwd(dt_device *dev, const dt_tensor *h, const dt_tensor *dout,
                         const dt_tensor *dh, int64_t n, int64_t f) {
    (void)dev;
    const float *ph = cpu_f32(h), *pd = cpu_f32(dout);
    float *pdh = cpu_f32(dh);
#pragma omp parallel for schedule(static) if (n * f >= CPU_PARALLEL_MIN)
    for (int64_t r = 0; r < n; r++) {
        const float *g = ph + r * 2 * f, *u = g + f, *d = pd + r * f;
        float *dg = pdh + r * 2 * f, *du = dg + f;
        for (int64_t j = 0; j < f; j++) {
            const float s = cpu_sigmoidf(g[j]);
            du[j] = d[j] * g[j] * s;
            dg[j] = d[j] * u[j] * s * (1.0f + g[j] * (1.0f - s));
        }
    }
    return DT_OK;
}

/* ---- softmax cross-entropy ----------------------------------------------- */

/* Largest logit of a row, in CPU_LANES lanes. */
static float row_max(const float *l, int64_t vocab) {
    float mx[CPU_LANES];
    for (int j = 0; j < CPU_LANES; j++) mx[j] = -INFINITY;
    int64_t i = 0;
    for (; i + CPU_LANES <= vocab; i += CPU_LANES)
        for (int j = 0; j < CPU_LANES; j++) mx[j] = l[i + j] > mx[j] ? l[i + j] : mx[j];
    for (int j = 0; i + j < vocab; j++) mx[j] = l[i + j] > mx[j] ? l[i + j] : mx[j];
    float m = mx[0];
    for (int j = 1; j < CPU_LANES; j++) m = mx[j] > m ? mx[j] : m;
    return m;
}

/* sum_j exp(l[j] - shift), in CPU_LANES lanes; with e non-NULL each term is
 * also stored in e[j] (e may be l). NaN anywhere reaches the sum. */
static float row_sum_exp(const float *l, int64_t vocab, float shift, float *e) {
    float acc[CPU_LANES] = {0};
    int64_t i = 0;
    if (e) {
        for (; i + CPU_LANES <= vocab; i += CPU_LANES)
            for (int j = 0; j < CPU_LANES; j++) {
                const float x = cpu_expf(l[i + j] - shift);
                e[i + j] = x;
                acc[j] += x;
            }
        for (int j = 0; i + j < vocab; j++) {
            const float x = cpu_expf(l[i + j] - shift);
            e[i + j] = x;
            acc[j] += x;
        }
    } else {
        for (; i + CPU_LANES <= vocab; i += CPU_LANES)
            for (int j = 0; j < CPU_LANES; j++) acc[j] += cpu_expf(l[i + j] - shift);
        for (int j = 0; i + j < vocab; j++) acc[j] += cpu_expf(l[i + j] - shift);
    }
    return cpu_lanes_sum(acc);
}

/* One exp per logit: the terms exp(l - max) go straight into dlogits and are
 * scaled by grad_scale / sum once the sum is known. */
dt_status cpu_softmax_xent(dt_device *dev, const dt_tensor *logits, const dt_tensor *targets,
                           const dt_tensor *losses, const dt_tensor *dlogits, int64_t n,
                           int64_t vocab, float grad_scale) {
    (void)dev;
    const float *pl = cpu_f32(logits);
    const int32_t *tg = cpu_i32(targets);
    float *loss = cpu_f32(losses);
    /* May alias logits: each element is read before it is written, and the
     * target's logit before any. */
    float *pd = dlogits ? cpu_f32(dlogits) : NULL;
#pragma omp parallel for schedule(static) if (n * vocab >= CPU_PARALLEL_MIN)
    for (int64_t r = 0; r < n; r++) {
        const float *l = pl + r * vocab;
        float *d = pd ? pd + r * vocab : NULL;
        const int32_t t = tg[r];
        if (t < 0 || t >= vocab) {
            loss[r] = NAN;
            if (d) memset(d, 0, (size_t)vocab * sizeof(float));
            continue;
        }
        const float lt = l[t], m = row_max(l, vocab);
        /* A row of -inf has no finite maximum; shifting by 0 then gives the
         * right answer, -inf, instead of -inf - -inf = NaN. (A +inf maximum
         * stays: the sum becomes NaN, as the true value is undefined.) */
        const float shift = m == -INFINITY ? 0.0f : m;
        const float sum = row_sum_exp(l, vocab, shift, d);
        loss[r] = shift + logf(sum) - lt;
        if (!d) continue;
        const float k = grad_scale / sum;
        for (int64_t j = 0; j < vocab; j++) d[j] *= k;
        d[t] -= grad_scale;
    }
    return DT_OK;
}
