// Transformer ops other than GEMM and attention: embedding, RMSNorm, RoPE,
// SwiGLU and the fused softmax cross-entropy. Views arrive as (pointer,
// element offset). Row kernels run one work-group of WG_ROW items per row
// and fold partial sums with a fixed tree, so results are deterministic.
// No atomics anywhere.

// Folds acc[0..WG_ROW) into acc[0] with `op`; every item must call it.
#define TREE_FOLD(acc, lid, op)                                                                    \
    do {                                                                                           \
        barrier(CLK_LOCAL_MEM_FENCE);                                                              \
        for (int half_ = WG_ROW / 2; half_ > 0; half_ >>= 1) {                                     \
            if ((lid) < half_) acc[lid] = op(acc[lid], acc[(lid) + half_]);                        \
            barrier(CLK_LOCAL_MEM_FENCE);                                                          \
        }                                                                                          \
    } while (0)

#define OP_ADD(a, b) ((a) + (b))
#define OP_MAX(a, b) fmax((a), (b))

// ---- embedding --------------------------------------------------------------

// Global (dim, n): out[t, c] = table[tokens[t], c], a zero row for a token
// outside [0, vocab).
__kernel void embedding_fwd(__global const int *tokens, ulong tok_off, __global const float *table,
                            ulong tab_off, __global float *out, ulong out_off, long n, long dim,
                            long vocab) {
    long c = get_global_id(0), t = get_global_id(1);
    if (c >= dim || t >= n) return;
    int tok = tokens[tok_off + t];
    out[out_off + t * dim + c] = (tok >= 0 && tok < vocab) ? table[tab_off + tok * dim + c] : 0.0f;
}

// dtable[tokens[t]] += dout[t] for t in order, without atomics: work-item
// (c, b) owns column c of the rows whose token is b modulo `buckets`, and
// scans all tokens in order. Each dtable element therefore receives its
// contributions in token order, exactly as the contract writes it, and no
// two work-items ever touch the same element. Global: (dim, buckets).
__kernel void embedding_bwd(__global const int *tokens, ulong tok_off, __global const float *dout,
                            ulong dout_off, __global float *dtable, ulong dt_off, long n, long dim,
                            long vocab, int buckets) {
    long c = get_global_id(0);
    int b = get_global_id(1);
    if (c >= dim) return;
    for (long t = 0; t < n; t++) {
        int tok = tokens[tok_off + t];
        if (tok < 0 || tok >= vocab || tok % buckets != b) continue;
        long at = dt_off + tok * dim + c;
        dtable[at] = dtable[at] + dout[dout_off + t * dim + c];
    }
}

// ---- RMSNorm ----------------------------------------------------------------

// One group per row: rstd = 1/sqrt(mean(x^2) + eps), y = x * rstd * w.
// y may alias x: an item reads each of its elements before writing it.
__kernel __attribute__((reqd_work_group_size(WG_ROW, 1, 1))) void
rmsnorm_fwd(__global const float *x, ulong x_off, __global const float *w, ulong w_off,
            __global float *y, ulong y_off, __global float *rstd, ulong r_off, long cols,
            float eps) {
    __local float acc[WG_ROW];
    int lid = get_local_id(0);
    long row = get_group_id(0);
    __global const float *xr = x + x_off + row * cols;
    float s = 0.0f;
    for (long c = lid; c < cols; c += WG_ROW) s += xr[c] * xr[c];
    acc[lid] = s;
    TREE_FOLD(acc, lid, OP_ADD);
    float r = 1.0f / sqrt(acc[0] / (float)cols + eps);
    if (lid == 0) rstd[r_off + row] = r;
    __global float *yr = y + y_off + row * cols;
    for (long c = lid; c < cols; c += WG_ROW) yr[c] = xr[c] * r * w[w_off + c];
}

// dw[c] += sum over rows (in order) of dy * x * rstd. One item per column;
// runs before rmsnorm_bwd_dx because dx may alias dy.
__kernel void rmsnorm_bwd_dw(__global const float *x, ulong x_off, __global const float *rstd,
                             ulong r_off, __global const float *dy, ulong dy_off,
                             __global float *dw, ulong dw_off, long rows, long cols) {
    long c = get_global_id(0);
    if (c >= cols) return;
    float s = 0.0f;
    for (long r = 0; r < rows; r++)
        s += dy[dy_off + r * cols + c] * x[x_off + r * cols + c] * rstd[r_off + r];
    dw[dw_off + c] += s;
}

// ---- float-float arithmetic for the RMSNorm backward ---------------------
// dx = rstd w dy - x rstd^3 mean(dy w x): the two terms cancel when x
// dominates eps (completely when cols = 1), so a float result would lose
// every bit. The terms are formed in float-float (a pair hi + lo, about 44
// bits) with error-free products from fma(), which OpenCL requires to be
// correctly rounded on every device; no cl_khr_fp64 needed.
typedef struct {
    float hi, lo;
} ff;

static inline ff ff_from(float a) {
    ff r = {a, 0.0f};
    return r;
}
static inline ff ff_norm(float hi, float lo) { // |hi| >= |lo|
    ff r;
    r.hi = hi + lo;
    r.lo = lo - (r.hi - hi);
    return r;
}
static inline ff ff_prod(float a, float b) { // exact a * b
    ff r;
    r.hi = a * b;
    r.lo = fma(a, b, -r.hi);
    return r;
}
static inline ff ff_add(ff a, ff b) {
    float s = a.hi + b.hi, v = s - a.hi;
    float e = (a.hi - (s - v)) + (b.hi - v);
    return ff_norm(s, e + a.lo + b.lo);
}
static inline ff ff_neg(ff a) {
    ff r = {-a.hi, -a.lo};
    return r;
}
static inline ff ff_mul_f(ff a, float b) {
    ff p = ff_prod(a.hi, b);
    return ff_norm(p.hi, p.lo + a.lo * b);
}
static inline ff ff_mul(ff a, ff b) {
    ff p = ff_prod(a.hi, b.hi);
    return ff_norm(p.hi, p.lo + (a.hi * b.lo + a.lo * b.hi));
}
static inline ff ff_div_f(ff a, float b) { // one correction step of a / b
    float q = a.hi / b;
    ff back = ff_prod(q, b);
    float rest = ((a.hi - back.hi) - back.lo) + a.lo;
    return ff_norm(q, rest / b);
}

// dx = rstd * w * dy - x * rstd^3 * (sum_c dy w x) / cols; one group per row,
// the per-item partial sums folded with the fixed tree in float-float.
__kernel __attribute__((reqd_work_group_size(WG_ROW, 1, 1))) void
rmsnorm_bwd_dx(__global const float *x, ulong x_off, __global const float *w, ulong w_off,
               __global const float *rstd, ulong r_off, __global const float *dy, ulong dy_off,
               __global float *dx, ulong dx_off, long cols) {
    __local float acc_hi[WG_ROW], acc_lo[WG_ROW];
    int lid = get_local_id(0);
    long row = get_group_id(0);
    __global const float *xr = x + x_off + row * cols;
    __global const float *dyr = dy + dy_off + row * cols;
    ff s = ff_from(0.0f);
    for (long c = lid; c < cols; c += WG_ROW)
        s = ff_add(s, ff_mul_f(ff_prod(dyr[c], w[w_off + c]), xr[c]));
    acc_hi[lid] = s.hi;
    acc_lo[lid] = s.lo;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int span = WG_ROW / 2; span > 0; span >>= 1) {
        if (lid < span) {
            ff a = {acc_hi[lid], acc_lo[lid]}, b = {acc_hi[lid + span], acc_lo[lid + span]};
            a = ff_add(a, b);
            acc_hi[lid] = a.hi;
            acc_lo[lid] = a.lo;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = rstd[r_off + row];
    ff sum = {acc_hi[0], acc_lo[0]};
    ff r3 = ff_mul_f(ff_prod(r, r), r);
    ff coef = ff_div_f(ff_mul(sum, r3), (float)cols);
    __global float *dxr = dx + dx_off + row * cols;
    for (long c = lid; c < cols; c += WG_ROW) {
        ff keep = ff_mul_f(ff_prod(r, w[w_off + c]), dyr[c]);
        ff d = ff_add(keep, ff_neg(ff_mul_f(coef, xr[c])));
        dxr[c] = d.hi + d.lo;
    }
}

// ---- RoPE ---------------------------------------------------------------------

// One item per rotated pair, in place; grid (rot_cols / 2, rows). Pair i of
// a head sits at columns (2i, 2i+1) of that head; the row's position is
// row % seq_len.
__kernel void rope(__global float *x, ulong x_off, __global const float *table, ulong t_off,
                   long width, int seq_len, int head_dim, int pairs, int inverse) {
    int pair = get_global_id(0);
    long row = get_global_id(1);
    if (pair >= pairs) return;
    int col = pair * 2, half_dim = head_dim / 2;
    int i = (col % head_dim) / 2, pos = (int)(row % seq_len);
    float c = table[t_off + (pos * half_dim + i) * 2];
    float s = table[t_off + (pos * half_dim + i) * 2 + 1];
    __global float *p = x + x_off + row * width + col;
    float x0 = p[0], x1 = p[1];
    if (inverse) {
        p[0] = x0 * c + x1 * s;
        p[1] = -x0 * s + x1 * c;
    } else {
        p[0] = x0 * c - x1 * s;
        p[1] = x0 * s + x1 * c;
    }
}

// ---- SwiGLU ---------------------------------------------------------------------

// h = [gate | up] per row; out = silu(gate) * up. Grid (f, n).
__kernel void swiglu_fwd(__global const float *h, ulong h_off, __global float *out, ulong o_off,
                         long f) {
    long c = get_global_id(0), r = get_global_id(1);
    if (c >= f) return;
    __global const float *hr = h + h_off + r * 2 * f;
    float g = hr[c], u = hr[f + c];
    out[o_off + r * f + c] = g / (1.0f + exp(-g)) * u;
}

// d gate = dout * up * silu'(gate), d up = dout * silu(gate), with
// silu'(g) = sig(g) (1 + g (1 - sig(g))). Grid (f, n).
__kernel void swiglu_bwd(__global const float *h, ulong h_off, __global const float *dout,
                         ulong d_off, __global float *dh, ulong dh_off, long f) {
    long c = get_global_id(0), r = get_global_id(1);
    if (c >= f) return;
    __global const float *hr = h + h_off + r * 2 * f;
    float g = hr[c], u = hr[f + c];
    float dy = dout[d_off + r * f + c];
    float sig = 1.0f / (1.0f + exp(-g));
    __global float *dr = dh + dh_off + r * 2 * f;
    dr[c] = dy * u * (sig * (1.0f + g * (1.0f - sig)));
    dr[f + c] = dy * (g * sig);
}

// ---- softmax cross-entropy ------------------------------------------------------

// One group per row. loss = logsumexp(logits) - logits[target]; with a
// gradient, dlogits = (softmax - onehot) * grad_scale. dlogits may alias
// logits, so the target's logit is read before the first barrier and every
// item writes only the elements it read. A target outside [0, V) gives a
// NaN loss and a zero gradient row.
__kernel __attribute__((reqd_work_group_size(WG_ROW, 1, 1))) void
softmax_xent(__global const float *logits, ulong l_off, __global const int *targets, ulong t_off,
             __global float *losses, ulong loss_off, __global float *dlogits, ulong d_off,
             long vocab, float grad_scale, int with_grad) {
    __local float acc[WG_ROW];
    int lid = get_local_id(0);
    long row = get_group_id(0);
    __global const float *lr = logits + l_off + row * vocab;
    int target = targets[t_off + row];
    int valid = target >= 0 && target < vocab;
    float picked = valid ? lr[target] : 0.0f;

    float m = -INFINITY;
    for (long c = lid; c < vocab; c += WG_ROW) m = fmax(m, lr[c]);
    acc[lid] = m;
    TREE_FOLD(acc, lid, OP_MAX);
    m = acc[0];
    barrier(CLK_LOCAL_MEM_FENCE); // everyone has read acc[0] before it is reused

    float s = 0.0f;
    for (long c = lid; c < vocab; c += WG_ROW) s += exp(lr[c] - m);
    acc[lid] = s;
    TREE_FOLD(acc, lid, OP_ADD);
    s = acc[0];

    if (lid == 0) losses[loss_off + row] = valid ? log(s) + m - picked : NAN;
    if (!with_grad) return;
    __global float *dr = dlogits + d_off + row * vocab;
    float inv = 1.0f / s;
    for (long c = lid; c < vocab; c += WG_ROW) {
        float g = exp(lr[c] - m) * inv - (c == target ? 1.0f : 0.0f);
        dr[c] = valid ? g * grad_scale : 0.0f;
    }
}
